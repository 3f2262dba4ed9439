//! `POST /_matrix/media/v1/create`

use axum::{Json, extract::State};
use ruma::api::client::media::create_mxc_uri::v1;
use serde_json::{Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma};

/// # `POST /_matrix/media/v1/create`
///
/// Reserves a media id to upload to later; it expires unused after `media.unused_id_lifetime_ms`.
pub async fn create_mxc_uri(
    State(state): State<AppState>,
    request: Ruma<v1::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    state
        .services
        .users
        .check_not_suspended(&identity.user_id)?;
    let media = &state.services.media;
    let (media_id, expires) = media.create_pending(&identity.user_id).await?;
    Ok(Json(json!({
        "content_uri": format!("mxc://{}/{media_id}", media.server_name()),
        "unused_expires_at": expires,
    })))
}
