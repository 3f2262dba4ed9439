//! `PUT /_matrix/media/v3/upload/{serverName}/{mediaId}`

use axum::{
    Json,
    extract::{Path, State},
};
use myelin_core::Error;
use serde_json::{Value as JsonValue, json};

use crate::{ApiError, AppState};

/// # `PUT /_matrix/media/v3/upload/{serverName}/{mediaId}`
///
/// The content of an id from `POST /_matrix/media/v1/create`: only its creator may upload, only
/// once (`409 M_CANNOT_OVERWRITE_MEDIA`), and only before it expires.
pub async fn create_content_async(
    State(state): State<AppState>,
    Path((server_name, media_id)): Path<(String, String)>,
    request: axum::extract::Request,
) -> Result<Json<JsonValue>, ApiError> {
    let media = &state.services.media;
    if server_name != media.server_name().as_str() {
        return Err(
            Error::Forbidden("Media of other servers cannot be uploaded here".into()).into(),
        );
    }
    let received = super::create_content::receive(&state, request).await?;
    media
        .finish_upload(
            received.staged,
            &received.identity.user_id,
            Some(&media_id),
            received.content_type,
            received.filename,
        )
        .await?;
    Ok(Json(json!({})))
}
