//! `GET /_matrix/client/v1/media/config` (and the legacy `/_matrix/media/v3/config`)
// Serves the deprecated legacy endpoints too (behind `media.legacy_unauthenticated`).
#![allow(deprecated)]

use axum::{Json, extract::State};
use ruma::api::client::{authenticated_media::get_media_config, media::get_media_config as legacy};
use serde_json::{Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma};

/// # `GET /_matrix/client/v1/media/config`
pub async fn get_media_config(
    State(state): State<AppState>,
    request: Ruma<get_media_config::v1::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    request.identity()?;
    Ok(Json(
        json!({ "m.upload.size": state.services.media.max_upload_bytes() }),
    ))
}

/// # `GET /_matrix/media/v3/config`
pub async fn get_media_config_legacy(
    State(state): State<AppState>,
    request: Ruma<legacy::v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    request.identity()?;
    Ok(Json(
        json!({ "m.upload.size": state.services.media.max_upload_bytes() }),
    ))
}
