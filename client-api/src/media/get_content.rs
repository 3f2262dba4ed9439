//! `GET /_matrix/client/v1/media/download/{serverName}/{mediaId}[/{fileName}]` and the legacy
// Serves the deprecated legacy endpoints too (behind `media.legacy_unauthenticated`).
#![allow(deprecated)]
//! unauthenticated `/_matrix/media/v3/download/...` (behind `media.legacy_unauthenticated`).

use axum::{extract::State, http::HeaderMap, response::Response};
use ruma::api::client::{authenticated_media, media};

use crate::{ApiError, AppState, Ruma};

/// # `GET /_matrix/client/v1/media/download/{serverName}/{mediaId}`
pub async fn get_content(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Ruma<authenticated_media::get_content::v1::Request>,
) -> Result<Response, ApiError> {
    request.identity()?;
    let body = &request.body;
    super::download(
        &state,
        &headers,
        &body.server_name,
        &body.media_id,
        None,
        body.timeout_ms,
    )
    .await
}

/// # `GET /_matrix/client/v1/media/download/{serverName}/{mediaId}/{fileName}`
pub async fn get_content_as_filename(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Ruma<authenticated_media::get_content_as_filename::v1::Request>,
) -> Result<Response, ApiError> {
    request.identity()?;
    let body = &request.body;
    super::download(
        &state,
        &headers,
        &body.server_name,
        &body.media_id,
        Some(&body.filename),
        body.timeout_ms,
    )
    .await
}

/// # `GET /_matrix/media/v3/download/{serverName}/{mediaId}`
pub async fn get_content_legacy(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Ruma<media::get_content::v3::Request>,
) -> Result<Response, ApiError> {
    super::legacy_allowed(&state)?;
    let body = &request.body;
    super::download(
        &state,
        &headers,
        &body.server_name,
        &body.media_id,
        None,
        body.timeout_ms,
    )
    .await
}

/// # `GET /_matrix/media/v3/download/{serverName}/{mediaId}/{fileName}`
pub async fn get_content_as_filename_legacy(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Ruma<media::get_content_as_filename::v3::Request>,
) -> Result<Response, ApiError> {
    super::legacy_allowed(&state)?;
    let body = &request.body;
    super::download(
        &state,
        &headers,
        &body.server_name,
        &body.media_id,
        Some(&body.filename),
        body.timeout_ms,
    )
    .await
}
