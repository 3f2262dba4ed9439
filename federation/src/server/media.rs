//! This server's media, for other servers: `GET /_matrix/federation/v1/media/download` and
//! `/thumbnail`, answered as the spec's `multipart/mixed` (metadata, then the bytes).

use axum::extract::State;
use myelin_core::{
    Error,
    media::{Download, thumbnails::ThumbnailMethod},
};
use ruma::{
    api::federation::authenticated_media::{
        Content, ContentMetadata, FileOrLocation, get_content, get_content_thumbnail,
    },
    http_headers::{ContentDisposition, ContentDispositionType},
    media::Method,
};
use tokio::io::AsyncReadExt as _;

use super::{FedResult, RumaResponse, Signed};

async fn read_all(
    mut reader: std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>,
) -> FedResult<Vec<u8>> {
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .await
        .map_err(|error| Error::Storage(format!("reading media: {error}")))?;
    Ok(bytes)
}

fn content(
    bytes: Vec<u8>,
    content_type: Option<String>,
    filename: Option<String>,
) -> FileOrLocation {
    let disposition =
        ContentDisposition::new(ContentDispositionType::Attachment).with_filename(filename);
    FileOrLocation::File(Content::new(
        bytes,
        content_type.unwrap_or_else(|| "application/octet-stream".into()),
        disposition,
    ))
}

/// # `GET /_matrix/federation/v1/media/download/{mediaId}`
///
/// Local media only (a server never proxies other servers' media to a third).
pub async fn download(
    State(state): State<super::State>,
    request: Signed<get_content::v1::Request>,
) -> FedResult<RumaResponse<get_content::v1::Response>> {
    let media = &state.services.media;
    let own = media.server_name().to_owned();
    let Some(Download { record, blob }) = media.open(&own, &request.body.media_id, None).await?
    else {
        return Err(Error::NotFound("Unknown media".into()).into());
    };
    if record.remote {
        return Err(Error::NotFound("Unknown media".into()).into());
    }
    let bytes = read_all(blob.reader).await?;
    Ok(RumaResponse(get_content::v1::Response::new(
        ContentMetadata::new(),
        content(bytes, record.content_type, record.filename),
    )))
}

/// # `GET /_matrix/federation/v1/media/thumbnail/{mediaId}`
pub async fn thumbnail(
    State(state): State<super::State>,
    request: Signed<get_content_thumbnail::v1::Request>,
) -> FedResult<RumaResponse<get_content_thumbnail::v1::Response>> {
    let media = &state.services.media;
    let own = media.server_name().to_owned();
    let body = &request.body;
    let method = match body.method {
        Some(Method::Crop) => ThumbnailMethod::Crop,
        _ => ThumbnailMethod::Scale,
    };
    let width = u32::try_from(u64::from(body.width)).unwrap_or(u32::MAX);
    let height = u32::try_from(u64::from(body.height)).unwrap_or(u32::MAX);
    let Some(thumbnail) = media
        .thumbnail(
            &own,
            &body.media_id,
            width,
            height,
            method,
            body.animated.unwrap_or(false),
        )
        .await?
    else {
        return Err(Error::NotFound("Unknown media".into()).into());
    };
    let bytes = read_all(thumbnail.blob.reader).await?;
    Ok(RumaResponse(get_content_thumbnail::v1::Response::new(
        ContentMetadata::new(),
        content(bytes, Some(thumbnail.content_type), None),
    )))
}
