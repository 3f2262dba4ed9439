//! `GET /_matrix/client/v1/media/preview_url` (and the legacy `/_matrix/media/v3/preview_url`)

// Serves the deprecated legacy endpoint too (behind `media.legacy_unauthenticated`).
#![allow(deprecated)]

use axum::{Json, extract::State, http::StatusCode};
use ruma::api::client::{
    authenticated_media::get_media_preview, media::get_media_preview as legacy,
};
use serde_json::Value as JsonValue;

use crate::{ApiError, AppState, Ruma};

async fn preview(state: &AppState, url: &str) -> Result<Json<JsonValue>, ApiError> {
    // Off unless configured, as in Synapse (which does not serve the endpoint at all then).
    let Some(fetcher) = state.services.url_fetcher.get() else {
        return Err(ApiError::http(
            StatusCode::NOT_FOUND,
            "M_UNRECOGNIZED",
            "URL previews are disabled on this server",
        ));
    };
    Ok(Json(
        state.services.media.preview(fetcher.as_ref(), url).await?,
    ))
}

/// # `GET /_matrix/client/v1/media/preview_url`
pub async fn get_media_preview(
    State(state): State<AppState>,
    request: Ruma<get_media_preview::v1::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    request.identity()?;
    preview(&state, &request.body.url).await
}

/// # `GET /_matrix/media/v3/preview_url`
pub async fn get_media_preview_legacy(
    State(state): State<AppState>,
    request: Ruma<legacy::v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    request.identity()?;
    preview(&state, &request.body.url).await
}
