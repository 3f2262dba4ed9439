//! The media repository: uploads (direct and asynchronous) read back byte for byte, ranges,
//! safe headers, thumbnails of the right size and type made once, limits and quotas, the legacy
//! unauthenticated endpoints off by default, corrupted files not served, avatars.

use std::io::Cursor;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestServer, TestUser};

/// A PNG of the given size (solid colour).
pub(crate) fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbaImage::from_pixel(width, height, image::Rgba([200, 30, 30, 255]));
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgba8(image)
        .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
        .expect("encode");
    bytes
}

/// Uploads `bytes`; returns the status and answer.
pub(crate) async fn upload(
    server: &TestServer,
    user: &TestUser,
    bytes: Vec<u8>,
    content_type: &str,
    filename: Option<&str>,
) -> (StatusCode, Value) {
    let mut url = format!("{}/_matrix/media/v3/upload", server.url);
    if let Some(name) = filename {
        url.push_str(&format!("?filename={name}"));
    }
    let response = server
        .http
        .post(url)
        .bearer_auth(&user.access_token)
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .expect("upload sent");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub(crate) fn media_path(content_uri: &str) -> String {
    content_uri
        .strip_prefix("mxc://")
        .expect("an mxc URI")
        .to_owned()
}

pub(crate) async fn download(
    server: &TestServer,
    token: Option<&str>,
    path: &str,
    range: Option<&str>,
) -> reqwest::Response {
    let mut request = server.http.get(format!("{}{path}", server.url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(range) = range {
        request = request.header("range", range);
    }
    request.send().await.expect("download sent")
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_come_back_byte_for_byte_with_safe_headers_and_ranges() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let bytes: Vec<u8> = (0..300_000u32).map(|n| (n % 251) as u8).collect();
    let (status, uploaded) = upload(
        &server,
        &alice,
        bytes.clone(),
        "application/octet-stream",
        Some("data%20file.bin"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{uploaded}");
    let uri = uploaded["content_uri"].as_str().expect("content_uri");
    assert!(uri.starts_with("mxc://localhost/"), "{uri}");
    let path = format!("/_matrix/client/v1/media/download/{}", media_path(uri));

    // Anyone logged in may download; the bytes are the same.
    let response = download(&server, Some(&bob.access_token), &path, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/octet-stream");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .expect("csp")
            .contains("sandbox")
    );
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename*=utf-8''data%20file.bin"
    );
    assert_eq!(response.bytes().await.expect("body").to_vec(), bytes);

    // A range.
    let response = download(
        &server,
        Some(&bob.access_token),
        &path,
        Some("bytes=1000-1999"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        response.headers()["content-range"],
        "bytes 1000-1999/300000"
    );
    assert_eq!(
        response.bytes().await.expect("body").to_vec(),
        bytes[1000..2000].to_vec()
    );
    let response = download(
        &server,
        Some(&bob.access_token),
        &path,
        Some("bytes=400000-"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::RANGE_NOT_SATISFIABLE);

    // With a file name in the path; an image is inline.
    let (_, image) = upload(&server, &alice, png(10, 10), "image/png", None).await;
    let image_path = format!(
        "/_matrix/client/v1/media/download/{}/picture.png",
        media_path(image["content_uri"].as_str().expect("uri"))
    );
    let response = download(&server, Some(&bob.access_token), &image_path, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-disposition"],
        "inline; filename*=utf-8''picture.png"
    );

    // No token, no media; the legacy unauthenticated endpoints are off by default.
    let response = download(&server, None, &path, None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let legacy = format!("/_matrix/media/v3/download/{}", media_path(uri));
    let response = download(&server, None, &legacy, None).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["errcode"], "M_NOT_FOUND");
    // Unknown media.
    let response = download(
        &server,
        Some(&bob.access_token),
        "/_matrix/client/v1/media/download/localhost/nosuchmedia",
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    let (status, config) = server
        .get("/_matrix/client/v1/media/config", Some(&bob.access_token))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(config["m.upload.size"], 50 * 1024 * 1024);
}

/// A thumbnail request: `query` is `width=…&height=…&method=…&id=<server/media id>`.
async fn thumbnail(
    server: &TestServer,
    user: &TestUser,
    query: String,
) -> (StatusCode, Option<String>, Vec<u8>) {
    let (query, id) = query.split_once("&id=").expect("an id");
    let response = download(
        server,
        Some(&user.access_token),
        &format!("/_matrix/client/v1/media/thumbnail/{id}?{query}"),
        None,
    )
    .await;
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|value| value.to_str().expect("type").to_owned());
    (
        status,
        content_type,
        response.bytes().await.expect("body").to_vec(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn thumbnails_have_the_asked_size_and_type_and_are_made_once() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let (_, uploaded) = upload(&server, &alice, png(1200, 600), "image/png", None).await;
    let id = media_path(uploaded["content_uri"].as_str().expect("uri"));
    let fetch = |query: String| thumbnail(&server, &alice, query);
    let (status, content_type, bytes) =
        fetch(format!("width=96&height=96&method=crop&id={id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type.as_deref(), Some("image/png"));
    let thumbnail = image::load_from_memory(&bytes).expect("a thumbnail image");
    assert_eq!((thumbnail.width(), thumbnail.height()), (96, 96));

    let (_, _, bytes) = fetch(format!("width=300&height=200&method=scale&id={id}")).await;
    let thumbnail = image::load_from_memory(&bytes).expect("a thumbnail image");
    assert_eq!(
        (thumbnail.width(), thumbnail.height()),
        (320, 160),
        "scaled into 320x240"
    );
    let (_, _, again) = fetch(format!("width=300&height=200&method=scale&id={id}")).await;
    assert_eq!(again, bytes, "served from the cache");

    // A JPEG source gives a JPEG thumbnail.
    let mut jpeg = Vec::new();
    image::DynamicImage::ImageRgb8(image::RgbImage::new(640, 640))
        .write_to(&mut Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
        .expect("jpeg");
    let (_, uploaded) = upload(&server, &alice, jpeg, "image/jpeg", None).await;
    let jpeg_id = media_path(uploaded["content_uri"].as_str().expect("uri"));
    let (status, content_type, _) =
        fetch(format!("width=32&height=32&method=crop&id={jpeg_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type.as_deref(), Some("image/jpeg"));

    // Not an image: refused with an error, not a broken image.
    let (_, uploaded) = upload(&server, &alice, b"plain".to_vec(), "text/plain", None).await;
    let text_id = media_path(uploaded["content_uri"].as_str().expect("uri"));
    let (status, _, _) = fetch(format!("width=32&height=32&method=crop&id={text_id}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread")]
async fn asynchronous_uploads_wait_then_serve_and_cannot_be_overwritten() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let (status, created) = server
        .post(
            "/_matrix/media/v1/create",
            Some(&alice.access_token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert!(created["unused_expires_at"].as_u64().is_some());
    let id = media_path(created["content_uri"].as_str().expect("uri"));

    // Not uploaded yet: a short wait ends in M_NOT_YET_UPLOADED.
    let response = download(
        &server,
        Some(&bob.access_token),
        &format!("/_matrix/client/v1/media/download/{id}?timeout_ms=200"),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["errcode"], "M_NOT_YET_UPLOADED");

    let put = |user: &TestUser, bytes: &'static [u8]| {
        let request = server
            .http
            .put(format!("{}/_matrix/media/v3/upload/{id}", server.url))
            .bearer_auth(&user.access_token)
            .header("content-type", "text/plain")
            .body(bytes);
        async move {
            let response = request.send().await.expect("sent");
            let status = response.status();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    // Only the creator may upload.
    let (status, body) = put(&bob, b"not mine").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = put(&alice, b"hello async").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = put(&alice, b"again").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["errcode"], "M_CANNOT_OVERWRITE_MEDIA");

    let response = download(
        &server,
        Some(&bob.access_token),
        &format!("/_matrix/client/v1/media/download/{id}"),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(&response.bytes().await.expect("body")[..], b"hello async");
}

#[tokio::test(flavor = "multi_thread")]
async fn size_limits_and_quotas_refuse_uploads_and_store_nothing() {
    let server = TestServer::start_with(|config| {
        config.media.max_upload_bytes = 100_000;
        config.media.user_quota_bytes = Some(150_000);
        config.media.quota_info_uri = Some("https://example.org/quota".into());
    })
    .await;
    let alice = server.register("alice").await;
    let (status, body) = upload(
        &server,
        &alice,
        vec![1; 100_001],
        "application/octet-stream",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["errcode"], "M_TOO_LARGE");
    let (status, _) = upload(
        &server,
        &alice,
        vec![2; 90_000],
        "application/octet-stream",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // 90,000 + 90,000 is past the 150,000 quota: a limit of the user's account (spec v1.17).
    let (status, body) = upload(
        &server,
        &alice,
        vec![3; 90_000],
        "application/octet-stream",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["errcode"], "M_USER_LIMIT_EXCEEDED");
    assert_eq!(body["info_uri"], "https://example.org/quota", "{body}");
    assert_eq!(body["can_upgrade"], false, "{body}");
    // Nothing was left in the staging directory.
    let staging = server
        .server()
        .services()
        .config
        .server
        .data_dir
        .join("media/staging");
    assert_eq!(std::fs::read_dir(staging).expect("staging").count(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_corrupted_on_disk_is_not_served() {
    let mut server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bytes = b"precious bytes".to_vec();
    let (_, uploaded) = upload(&server, &alice, bytes.clone(), "text/plain", None).await;
    let id = media_path(uploaded["content_uri"].as_str().expect("uri"));
    let blobs = server
        .server()
        .services()
        .config
        .server
        .data_dir
        .join("media/blobs");
    let file = walk(&blobs).into_iter().next().expect("a stored blob");
    // Identical uploads share one file.
    upload(&server, &alice, bytes.clone(), "text/plain", None).await;
    assert_eq!(walk(&blobs).len(), 1);
    std::fs::write(&file, b"tampered bytes").expect("tamper");
    // A restart forgets which blobs were checked.
    server.restart(|_| {}).await;
    let response = download(
        &server,
        Some(&alice.access_token),
        &format!("/_matrix/client/v1/media/download/{id}"),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = response.text().await.expect("body");
    assert!(!body.contains("tampered"), "{body}");
}

pub(crate) fn walk(directory: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(directory).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[tokio::test(flavor = "multi_thread")]
async fn legacy_endpoints_serve_when_turned_on_and_avatars_work() {
    let server = TestServer::start_with(|config| config.media.legacy_unauthenticated = true).await;
    let alice = server.register("alice").await;
    let (_, uploaded) = upload(&server, &alice, png(64, 64), "image/png", None).await;
    let uri = uploaded["content_uri"].as_str().expect("uri").to_owned();
    let response = download(
        &server,
        None,
        &format!("/_matrix/media/v3/download/{}", media_path(&uri)),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.expect("body").to_vec(), png(64, 64));

    // The avatar is set, shows in the profile, and its thumbnail loads.
    let (status, _) = server
        .put(
            &format!("/_matrix/client/v3/profile/{}/avatar_url", alice.user_id),
            Some(&alice.access_token),
            json!({ "avatar_url": uri }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, profile) = server
        .get(
            &format!("/_matrix/client/v3/profile/{}", alice.user_id),
            None,
        )
        .await;
    assert_eq!(profile["avatar_url"], json!(uri));
    let response = download(
        &server,
        Some(&alice.access_token),
        &format!(
            "/_matrix/client/v1/media/thumbnail/{}?width=32&height=32&method=crop",
            media_path(&uri)
        ),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let thumbnail = image::load_from_memory(&response.bytes().await.expect("body")).expect("image");
    assert_eq!((thumbnail.width(), thumbnail.height()), (32, 32));
}
