//! `POST /_matrix/media/v3/upload`

use axum::{Json, extract::State};
use http_body_util::BodyExt as _;
use myelin_core::{Error, media::Staged, users::Identity};
use serde_json::{Value as JsonValue, json};

use crate::{
    ApiError, AppState,
    extract::{authenticate_parts, query_parameter},
};

/// An upload read from its request: who sent it, its bytes staged on disk, its declared type
/// and file name.
pub(super) struct Received {
    pub identity: Identity,
    pub staged: Staged,
    pub content_type: Option<String>,
    pub filename: Option<String>,
}

/// Authenticates an upload and streams its body to a staging file (never buffered whole),
/// refusing it early when `Content-Length` already says it is too big or over quota.
pub(super) async fn receive(
    state: &AppState,
    request: axum::extract::Request,
) -> Result<Received, ApiError> {
    let (parts, mut body) = request.into_parts();
    let identity = authenticate_parts(&parts, state)?;
    state
        .services
        .users
        .check_not_suspended(&identity.user_id)?;
    let media = &state.services.media;
    let declared = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if let Some(length) = declared {
        let refused = if length > media.max_upload_bytes() {
            Some(Error::TooLarge(format!(
                "Uploads are limited to {} bytes",
                media.max_upload_bytes()
            )))
        } else {
            media.check_quota(&identity.user_id, length).err()
        };
        // Refused before reading the body; the listener's lingering close lets a client
        // still sending it read this answer.
        if let Some(error) = refused {
            return Err(error.into());
        }
    }
    let content_type = parts
        .headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let filename = query_parameter(&parts.uri, "filename").filter(|name| !name.is_empty());
    let mut staged = media.stage().await?;
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|error| ApiError::bad_json(format!("Could not read the upload: {error}")))?;
        if let Ok(data) = frame.into_data()
            && let Err(error) = staged.write(&data).await
        {
            return Err(error.into());
        }
    }
    Ok(Received {
        identity,
        staged,
        content_type,
        filename,
    })
}

/// # `POST /_matrix/media/v3/upload`
pub async fn create_content(
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> Result<Json<JsonValue>, ApiError> {
    let received = receive(&state, request).await?;
    let media = &state.services.media;
    let media_id = media
        .finish_upload(
            received.staged,
            &received.identity.user_id,
            None,
            received.content_type,
            received.filename,
        )
        .await?;
    Ok(Json(json!({
        "content_uri": format!("mxc://{}/{media_id}", media.server_name()),
    })))
}
