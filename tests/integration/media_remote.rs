//! Media beyond this server's uploads: another server's media fetched over federation and
//! cached, the purge command, and URL previews (off by default, loopback refused).

use reqwest::StatusCode;

use crate::{
    common::TestServer,
    media::{download, media_path, png, upload, walk},
};

#[tokio::test(flavor = "multi_thread")]
async fn media_of_another_server_is_fetched_over_federation_and_cached() {
    let (a, _) = TestServer::start_federated().await;
    let (mut b, _) = TestServer::start_federated().await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let bytes: Vec<u8> = (0..70_000u32).map(|n| (n % 13) as u8).collect();
    let (_, uploaded) = upload(
        &a,
        &alice,
        bytes.clone(),
        "application/pdf",
        Some("report.pdf"),
    )
    .await;
    let id = media_path(uploaded["content_uri"].as_str().expect("uri"));
    assert!(id.starts_with(&a.server_name()));

    let response = download(
        &b,
        Some(&bob.access_token),
        &format!("/_matrix/client/v1/media/download/{id}"),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/pdf");
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename*=utf-8''report.pdf"
    );
    assert_eq!(response.bytes().await.expect("body").to_vec(), bytes);

    // A thumbnail of a remote image, made here from the fetched original.
    let (_, image) = upload(&a, &alice, png(400, 400), "image/png", None).await;
    let image_id = media_path(image["content_uri"].as_str().expect("uri"));
    let response = download(
        &b,
        Some(&bob.access_token),
        &format!("/_matrix/client/v1/media/thumbnail/{image_id}?width=96&height=96&method=crop"),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);

    // Cached: the origin can go away and the media still loads.
    drop(a);
    b.restart(|_| {}).await;
    let response = download(
        &b,
        Some(&bob.access_token),
        &format!("/_matrix/client/v1/media/download/{id}"),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.expect("body").to_vec(), bytes);

    // Media of a server at a denied address (the restart dropped the loopback allowlist) is a
    // refusal, as for profiles: 403, not a hang or a 502.
    let response = download(
        &b,
        Some(&bob.access_token),
        "/_matrix/client/v1/media/download/127.0.0.1:1/nothing",
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_purge_command_deletes_cached_remote_media_and_keeps_local_media() {
    let (a, _) = TestServer::start_federated().await;
    let (mut b, _) = TestServer::start_federated().await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let (_, remote) = upload(&a, &alice, b"from afar".to_vec(), "text/plain", None).await;
    let remote_id = media_path(remote["content_uri"].as_str().expect("uri"));
    let (_, local) = upload(&b, &bob, b"from here".to_vec(), "text/plain", None).await;
    let local_id = media_path(local["content_uri"].as_str().expect("uri"));
    let response = download(
        &b,
        Some(&bob.access_token),
        &format!("/_matrix/client/v1/media/download/{remote_id}"),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let blobs = b
        .server()
        .services()
        .config
        .server
        .data_dir
        .join("media/blobs");
    assert_eq!(walk(&blobs).len(), 2);

    let data_dir = b.server().services().config.server.data_dir.clone();
    b.stop().await;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_myelin"))
        .args(["media", "purge", "--remote-older-than", "0s"])
        .env("MYELIN_SERVER__DATA_DIR", &data_dir)
        .env("MYELIN_FEDERATION__ENABLED", "false")
        .output()
        .expect("myelin media purge runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("deleted 1 media"), "{stdout}");
    assert!(stderr.contains("purged 1/1"), "progress is shown: {stderr}");
    assert_eq!(walk(&blobs).len(), 1, "the remote copy's file is gone");

    b.restart(|_| {}).await;
    let response = download(
        &b,
        Some(&bob.access_token),
        &format!("/_matrix/client/v1/media/download/{local_id}"),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK, "local media stays");
    assert_eq!(&response.bytes().await.expect("body")[..], b"from here");
}

/// A web server on loopback with a page (OpenGraph tags, a relative image) and the image;
/// counts the requests it gets.
async fn web_server() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use axum::{Router, routing::get};
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&hits);
    let page = r#"<html><head><title>Fallback</title>
        <meta property="og:title" content="The &quot;real&quot; title">
        <meta name="description" content="What the page is about">
        <meta property="og:image" content="/logo.png"></head><body>hi</body></html>"#;
    let app = Router::new()
        .route(
            "/page",
            get(move || {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async move { ([("content-type", "text/html; charset=utf-8")], page) }
            }),
        )
        .route(
            "/logo.png",
            get(|| async { ([("content-type", "image/png")], png(48, 48)) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}"), hits)
}

#[tokio::test(flavor = "multi_thread")]
async fn url_previews_are_off_by_default_refuse_loopback_and_read_open_graph() {
    let (site, hits) = web_server().await;
    let page = format!("{site}/page");
    let preview_path = |url: &str| {
        format!(
            "/_matrix/client/v1/media/preview_url?url={}",
            url.replace(':', "%3A").replace('/', "%2F")
        )
    };

    let off = TestServer::start().await;
    let user = off.register("alice").await;
    let result = off
        .get(&preview_path(&page), Some(&user.access_token))
        .await;
    assert_eq!(result.0, StatusCode::NOT_FOUND, "{}", result.1);
    assert_eq!(result.1["errcode"], "M_UNRECOGNIZED");

    // On, with the default denylist: loopback is refused and never contacted.
    let guarded = TestServer::start_with(|config| config.media.url_preview_enabled = true).await;
    let user = guarded.register("alice").await;
    let result = guarded
        .get(&preview_path(&page), Some(&user.access_token))
        .await;
    assert_eq!(result.0, StatusCode::FORBIDDEN, "{}", result.1);
    assert_eq!(result.1["errcode"], "M_FORBIDDEN");
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0);

    // Allowlisted: the page's OpenGraph data, and its image stored here.
    let allowed = TestServer::start_with(|config| {
        config.media.url_preview_enabled = true;
        config.media.url_preview_ip_range_allowlist = vec!["127.0.0.0/8".into()];
    })
    .await;
    let user = allowed.register("alice").await;
    let (status, preview) = allowed
        .get(&preview_path(&page), Some(&user.access_token))
        .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["og:title"], "The \"real\" title");
    assert_eq!(preview["og:description"], "What the page is about");
    assert_eq!(preview["og:image:type"], "image/png");
    assert_eq!(preview["og:image:width"], 48);
    assert_eq!(preview["og:image:height"], 48);
    assert!(
        preview["matrix:image:size"]
            .as_u64()
            .is_some_and(|size| size > 0)
    );
    let image = preview["og:image"].as_str().expect("an image");
    let response = download(
        &allowed,
        Some(&user.access_token),
        &format!("/_matrix/client/v1/media/download/{}", media_path(image)),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.expect("body").to_vec(), png(48, 48));
    // Cached: asking again does not fetch the page again.
    let (_, again) = allowed
        .get(&preview_path(&page), Some(&user.access_token))
        .await;
    assert_eq!(again, preview);
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
}
