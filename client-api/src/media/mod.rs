//! The media repository's client endpoints: uploads (streamed to disk, never buffered whole),
//! authenticated downloads and thumbnails (streamed, with ranges), the legacy unauthenticated
//! endpoints behind `media.legacy_unauthenticated`, and remote media fetched through the
//! federation port and cached.
pub mod create_content;
pub mod create_content_async;
pub mod create_mxc_uri;
pub mod get_content;
pub mod get_content_thumbnail;
pub mod get_media_config;
pub mod get_media_preview;

use std::time::Duration;

use axum::{
    body::Body,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use myelin_core::{
    Error,
    media::{Download, RemoteContent},
};
use ruma::ServerName;
use tokio_util::io::ReaderStream;

use crate::{ApiError, AppState};

/// Registers the media endpoints.
// The legacy unauthenticated endpoints are deprecated in the spec; serving them (behind a
// config switch) is the point here.
#[allow(deprecated)]
pub(crate) fn routes(mut router: axum::Router<AppState>) -> axum::Router<AppState> {
    use ruma::api::client::{authenticated_media as v1, media as v3};

    use crate::routing::route;
    router = route::<v3::create_content::v3::Request, _, _>(router, create_content::create_content);
    router = route::<v3::create_content_async::v3::Request, _, _>(
        router,
        create_content_async::create_content_async,
    );
    router = route::<v3::create_mxc_uri::v1::Request, _, _>(router, create_mxc_uri::create_mxc_uri);
    router = route::<v1::get_media_config::v1::Request, _, _>(
        router,
        get_media_config::get_media_config,
    );
    router = route::<v3::get_media_config::v3::Request, _, _>(
        router,
        get_media_config::get_media_config_legacy,
    );
    router = route::<v1::get_content::v1::Request, _, _>(router, get_content::get_content);
    router = route::<v1::get_content_as_filename::v1::Request, _, _>(
        router,
        get_content::get_content_as_filename,
    );
    router = route::<v3::get_content::v3::Request, _, _>(router, get_content::get_content_legacy);
    router = route::<v3::get_content_as_filename::v3::Request, _, _>(
        router,
        get_content::get_content_as_filename_legacy,
    );
    router = route::<v1::get_content_thumbnail::v1::Request, _, _>(
        router,
        get_content_thumbnail::get_content_thumbnail,
    );
    router = route::<v1::get_media_preview::v1::Request, _, _>(
        router,
        get_media_preview::get_media_preview,
    );
    router = route::<v3::get_media_preview::v3::Request, _, _>(
        router,
        get_media_preview::get_media_preview_legacy,
    );
    router = route::<v3::get_content_thumbnail::v3::Request, _, _>(
        router,
        get_content_thumbnail::get_content_thumbnail_legacy,
    );
    router
}

/// Content types shown inline; everything else is an attachment (Synapse's list), so a file
/// cannot run as a page of this origin.
const INLINE_CONTENT_TYPES: &[&str] = &[
    "text/css",
    "text/plain",
    "text/csv",
    "application/json",
    "application/ld+json",
    "image/jpeg",
    "image/gif",
    "image/png",
    "image/apng",
    "image/webp",
    "image/avif",
    "video/mp4",
    "video/webm",
    "video/ogg",
    "video/quicktime",
    "audio/mp4",
    "audio/webm",
    "audio/aac",
    "audio/mpeg",
    "audio/ogg",
    "audio/wave",
    "audio/wav",
    "audio/x-wav",
    "audio/x-pn-wav",
    "audio/flac",
    "audio/x-flac",
];

/// Synapse's policy for media responses: nothing in them may run or load anything.
const CONTENT_SECURITY_POLICY: &str = "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; style-src 'unsafe-inline'; media-src 'self'; object-src 'self';";

/// Longest a download waits for a created id's upload.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// RFC 5987 `attr-char`: what may stand unencoded in `filename*`.
const ATTR_CHAR: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

fn content_disposition(content_type: &str, filename: Option<&str>) -> String {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let kind = if INLINE_CONTENT_TYPES.contains(&essence.as_str()) {
        "inline"
    } else {
        "attachment"
    };
    match filename {
        Some(name) if !name.is_empty() => {
            // RFC 6266 / 5987: the UTF-8 name percent-encoded except the attr-chars.
            let encoded = percent_encoding::utf8_percent_encode(name, ATTR_CHAR);
            format!("{kind}; filename*=utf-8''{encoded}")
        }
        _ => kind.to_owned(),
    }
}

/// Parses a single `Range: bytes=…` against a length: `Ok(None)` for no (or an ignorable)
/// range, `Err(())` when unsatisfiable.
fn parse_range(headers: &HeaderMap, total: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(value) = headers
        .get(header::RANGE)
        .and_then(|value| value.to_str().ok())
    else {
        return Ok(None);
    };
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None); // Multiple ranges: answer with the whole file, as HTTP allows.
    }
    let Some((start, end)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (start, end) = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let suffix: u64 = suffix.parse().map_err(|_| ())?;
            if suffix == 0 {
                return Err(());
            }
            (total.saturating_sub(suffix), total.saturating_sub(1))
        }
        (start, "") => (start.parse().map_err(|_| ())?, total.saturating_sub(1)),
        (start, end) => {
            let end: u64 = end.parse().map_err(|_| ())?;
            (
                start.parse().map_err(|_| ())?,
                end.min(total.saturating_sub(1)),
            )
        }
    };
    if total == 0 || start >= total || start > end {
        return Err(());
    }
    Ok(Some((start, end - start + 1)))
}

fn header_value(value: &str) -> HeaderValue {
    HeaderValue::from_str(value)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
}

/// The headers every media response carries.
fn secure(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("cross-origin"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400, s-maxage=86400"),
    );
}

/// Streams a blob as a media response (206 for a satisfiable range).
fn stream(
    reader: std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>,
    content_type: &str,
    disposition: &str,
    total: u64,
    range: Option<(u64, u64)>,
) -> Response {
    let length = range.map_or(total, |(_, length)| length);
    let mut response = Response::new(Body::from_stream(ReaderStream::with_capacity(
        reader,
        256 * 1024,
    )));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, header_value(content_type));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CONTENT_DISPOSITION, header_value(disposition));
    if let Some((start, length)) = range {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        let value = format!("bytes {start}-{}/{total}", start + length - 1);
        response
            .headers_mut()
            .insert(header::CONTENT_RANGE, header_value(&value));
    }
    secure(&mut response);
    response
}

fn unsatisfiable(total: u64) -> Response {
    let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
    response.headers_mut().insert(
        header::CONTENT_RANGE,
        header_value(&format!("bytes */{total}")),
    );
    secure(&mut response);
    response
}

/// Makes sure media of another server is cached here (fetched over federation once).
async fn ensure_cached(
    state: &AppState,
    server: &ServerName,
    media_id: &str,
) -> Result<(), ApiError> {
    let media = &state.services.media;
    if server == media.server_name() || media.record(server, media_id)?.is_some() {
        return Ok(());
    }
    let federation = state.services.federation.get()?;
    let RemoteContent {
        bytes,
        content_type,
        filename,
    } = federation
        .fetch_media(server, media_id)
        .await
        .map_err(|error| match error {
            Error::NotFound(_) => Error::NotFound("Unknown media".into()),
            Error::TooLarge(message) => Error::TooLarge(message),
            // Refusals keep their meaning (403 for a denied address or server, 400 for an
            // invalid server name), as on every other federated request.
            Error::Forbidden(message) => Error::Forbidden(message),
            Error::InvalidParam(message) => Error::InvalidParam(message),
            other => Error::Unavailable(format!("Cannot fetch the media from {server}: {other}")),
        })?;
    media
        .store_remote(
            server,
            media_id,
            RemoteContent {
                bytes,
                content_type,
                filename,
            },
        )
        .await?;
    Ok(())
}

/// A download response: local, cached or fetched, whole or a range; waits up to `timeout`
/// for a created id's upload.
async fn download(
    state: &AppState,
    headers: &HeaderMap,
    server: &ServerName,
    media_id: &str,
    filename: Option<&str>,
    timeout: Duration,
) -> Result<Response, ApiError> {
    if !myelin_core::media::valid_media_id(media_id) {
        return Err(Error::NotFound("Unknown media".into()).into());
    }
    ensure_cached(state, server, media_id).await?;
    let media = &state.services.media;
    let deadline = tokio::time::Instant::now() + timeout.min(MAX_WAIT);
    let record = loop {
        match media.record(server, media_id)? {
            Some(record) if record.sha256.is_some() => break record,
            Some(record)
                if record
                    .pending_until_ms
                    .is_some_and(|until| until >= myelin_core::users::now_ms())
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Some(record) if record.pending_until_ms.is_some() && record.sha256.is_none() => {
                if record
                    .pending_until_ms
                    .is_some_and(|until| until < myelin_core::users::now_ms())
                {
                    return Err(Error::NotFound("Unknown media".into()).into());
                }
                return Err(Error::MediaNotYetUploaded.into());
            }
            _ => return Err(Error::NotFound("Unknown media".into()).into()),
        }
    };
    let range = match parse_range(headers, record.size) {
        Ok(range) => range,
        Err(()) => return Ok(unsatisfiable(record.size)),
    };
    let Some(Download { record, blob }) = media.open(server, media_id, range).await? else {
        return Err(Error::NotFound("Unknown media".into()).into());
    };
    let content_type = record
        .content_type
        .clone()
        .unwrap_or_else(|| "application/octet-stream".into());
    let name = filename.or(record.filename.as_deref());
    let disposition = content_disposition(&content_type, name);
    Ok(stream(
        blob.reader,
        &content_type,
        &disposition,
        blob.total_len,
        range,
    ))
}

/// Refuses the legacy unauthenticated endpoints unless the config turns them on (Synapse
/// answers them with 404 `M_NOT_FOUND` once frozen).
fn legacy_allowed(state: &AppState) -> Result<(), ApiError> {
    if state.services.config.media.legacy_unauthenticated {
        Ok(())
    } else {
        Err(Error::NotFound(
            "Unauthenticated media is disabled; use /_matrix/client/v1/media".into(),
        )
        .into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(value: &str, total: u64) -> Result<Option<(u64, u64)>, ()> {
        let mut headers = HeaderMap::new();
        headers.insert(header::RANGE, HeaderValue::from_str(value).expect("header"));
        parse_range(&headers, total)
    }

    #[test]
    fn ranges_are_parsed_and_bounded() {
        assert_eq!(range("bytes=0-9", 100), Ok(Some((0, 10))));
        assert_eq!(range("bytes=90-", 100), Ok(Some((90, 10))));
        assert_eq!(range("bytes=-5", 100), Ok(Some((95, 5))));
        assert_eq!(range("bytes=50-500", 100), Ok(Some((50, 50))));
        assert_eq!(range("bytes=100-", 100), Err(()));
        assert_eq!(range("bytes=5-1", 100), Err(()));
        assert_eq!(range("bytes=0-1,5-6", 100), Ok(None));
        assert_eq!(range("items=0-1", 100), Ok(None));
    }

    #[test]
    fn only_safe_types_are_inline_and_names_are_encoded() {
        assert_eq!(content_disposition("image/png", None), "inline");
        assert_eq!(content_disposition("text/html", None), "attachment");
        assert_eq!(
            content_disposition("image/svg+xml", Some("a b.svg")),
            "attachment; filename*=utf-8''a%20b.svg"
        );
        assert_eq!(
            content_disposition("text/plain; charset=utf-8", Some("é.txt")),
            "inline; filename*=utf-8''%C3%A9.txt"
        );
    }
}
