//! `GET /_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}` and the legacy
// Serves the deprecated legacy endpoints too (behind `media.legacy_unauthenticated`).
#![allow(deprecated)]
//! unauthenticated `/_matrix/media/v3/thumbnail/...` (behind `media.legacy_unauthenticated`).

use axum::{extract::State, response::Response};
use myelin_core::{Error, media::thumbnails::ThumbnailMethod};
use ruma::{
    ServerName, UInt,
    api::client::{authenticated_media, media},
    media::Method,
};

use crate::{ApiError, AppState, Ruma};

async fn thumbnail(
    state: &AppState,
    server: &ServerName,
    media_id: &str,
    (width, height): (UInt, UInt),
    method: Option<&Method>,
    animated: bool,
) -> Result<Response, ApiError> {
    if !myelin_core::media::valid_media_id(media_id) {
        return Err(Error::NotFound("Unknown media".into()).into());
    }
    if width == UInt::MIN || height == UInt::MIN {
        return Err(Error::InvalidParam("width and height must be positive".into()).into());
    }
    super::ensure_cached(state, server, media_id).await?;
    let method = match method {
        Some(Method::Crop) => ThumbnailMethod::Crop,
        _ => ThumbnailMethod::Scale,
    };
    let clamp = |value: UInt| u32::try_from(u64::from(value)).unwrap_or(u32::MAX);
    let Some(found) = state
        .services
        .media
        .thumbnail(
            server,
            media_id,
            clamp(width),
            clamp(height),
            method,
            animated,
        )
        .await?
    else {
        return Err(Error::NotFound("Unknown media".into()).into());
    };
    let disposition = super::content_disposition(&found.content_type, None);
    Ok(super::stream(
        found.blob.reader,
        &found.content_type,
        &disposition,
        found.blob.total_len,
        None,
    ))
}

/// # `GET /_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}`
pub async fn get_content_thumbnail(
    State(state): State<AppState>,
    request: Ruma<authenticated_media::get_content_thumbnail::v1::Request>,
) -> Result<Response, ApiError> {
    request.identity()?;
    let body = &request.body;
    thumbnail(
        &state,
        &body.server_name,
        &body.media_id,
        (body.width, body.height),
        body.method.as_ref(),
        body.animated.unwrap_or(false),
    )
    .await
}

/// # `GET /_matrix/media/v3/thumbnail/{serverName}/{mediaId}`
pub async fn get_content_thumbnail_legacy(
    State(state): State<AppState>,
    request: Ruma<media::get_content_thumbnail::v3::Request>,
) -> Result<Response, ApiError> {
    super::legacy_allowed(&state)?;
    let body = &request.body;
    thumbnail(
        &state,
        &body.server_name,
        &body.media_id,
        (body.width, body.height),
        body.method.as_ref(),
        body.animated.unwrap_or(false),
    )
    .await
}
