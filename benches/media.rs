//! Media throughput, each figure against a baseline measured in the same run:
//! - downloading a 100 MB file from Myelin (authenticated, hash-checked once, streamed) against
//!   the same file streamed by a bare axum handler over the same loopback (the ceiling of
//!   HTTP on this machine);
//! - thumbnails made per second through the API (fetch, decode, resize, encode, store, answer)
//!   against the bare decode-resize-encode of the same images in process.
//!
//! Run: `cargo bench --bench media -- [megabytes] [images]` (defaults 100, 20).

use std::{io::Cursor, time::Instant};

use myelin::RunningServer;
use myelin_core::config::Config;
use serde_json::{Value, json};

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build().expect("client")
}

async fn register(http: &reqwest::Client, base: &str) -> String {
    let response: Value = http
        .post(format!("{base}/_matrix/client/v3/register"))
        .json(&json!({ "username": "bench", "password": "bench password 1", "auth": { "type": "m.login.dummy" } }))
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("json");
    response["access_token"].as_str().expect("token").to_owned()
}

async fn upload(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    bytes: Vec<u8>,
    kind: &str,
) -> String {
    let response: Value = http
        .post(format!("{base}/_matrix/media/v3/upload"))
        .bearer_auth(token)
        .header("content-type", kind)
        .body(bytes)
        .send()
        .await
        .expect("upload")
        .json()
        .await
        .expect("json");
    response["content_uri"]
        .as_str()
        .expect("content_uri")
        .trim_start_matches("mxc://")
        .to_owned()
}

/// Downloads `url` `rounds` times; returns MB/s.
async fn throughput(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    size: usize,
    rounds: usize,
) -> f64 {
    let started = Instant::now();
    for _ in 0..rounds {
        let mut request = http.get(url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let mut response = request.send().await.expect("download");
        assert!(response.status().is_success(), "{}", response.status());
        let mut received = 0;
        while let Some(chunk) = response.chunk().await.expect("chunk") {
            received += chunk.len();
        }
        assert_eq!(received, size);
    }
    (size * rounds) as f64 / 1e6 / started.elapsed().as_secs_f64()
}

/// A bare file server: the same bytes from the same kind of file, no auth, no metadata.
async fn bare_server(path: std::path::PathBuf) -> String {
    use axum::{Router, body::Body, routing::get};
    let app = Router::new().route(
        "/file",
        get(move || {
            let path = path.clone();
            async move {
                let file = tokio::fs::File::open(path).await.expect("file");
                Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
                    file,
                    256 * 1024,
                ))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}/file")
}

fn photo(seed: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(1600, 1200, |x, y| {
        image::Rgb([
            (x + seed) as u8,
            (y * 3 + seed) as u8,
            ((x ^ y) + seed) as u8,
        ])
    });
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(image)
        .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Jpeg)
        .expect("jpeg");
    bytes
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1).filter(|arg| !arg.starts_with('-'));
    let megabytes: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(100);
    let images: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(20);
    let dir = tempfile::tempdir().expect("dir");
    let mut config = Config::default();
    config.server.data_dir = dir.path().join("myelin");
    config.client.bind = "127.0.0.1:0".parse().expect("address");
    config.federation.enabled = false;
    config.registration.open = true;
    config.rate_limits.enabled = false;
    config.media.max_upload_bytes = (megabytes as u64 + 1) * 1024 * 1024;
    let server = RunningServer::start(config).await.expect("myelin starts");
    let base = format!("http://{}", server.client_addr);
    let http = client();
    let token = register(&http, &base).await;

    let size = megabytes * 1024 * 1024;
    let bytes: Vec<u8> = (0..size).map(|n| (n % 251) as u8).collect();
    let file = dir.path().join("baseline.bin");
    std::fs::write(&file, &bytes).expect("baseline file");
    let started = Instant::now();
    let id = upload(&http, &base, &token, bytes, "application/octet-stream").await;
    let upload_rate = size as f64 / 1e6 / started.elapsed().as_secs_f64();
    let url = format!("{base}/_matrix/client/v1/media/download/{id}");
    // Warm both (the first Myelin download checks the hash; page cache for both files).
    throughput(&http, &url, Some(&token), size, 1).await;
    let bare = bare_server(file).await;
    throughput(&http, &bare, None, size, 1).await;
    let rounds = 5;
    let baseline = throughput(&http, &bare, None, size, rounds).await;
    let myelin = throughput(&http, &url, Some(&token), size, rounds).await;
    println!("download of a {megabytes} MB file, {rounds} rounds each, same run:");
    println!("  bare axum file handler: {baseline:8.0} MB/s (baseline)");
    println!(
        "  Myelin media download:  {myelin:8.0} MB/s ({:.2}x the baseline)",
        myelin / baseline
    );
    println!("  (upload of the same file: {upload_rate:.0} MB/s, hashed and fsynced)");

    let photos: Vec<Vec<u8>> = (0..images as u32).map(photo).collect();
    let started = Instant::now();
    for source in &photos {
        myelin_core::media::thumbnails::render(
            source,
            320,
            240,
            myelin_core::media::thumbnails::ThumbnailMethod::Scale,
            32_000_000,
        )
        .expect("render");
    }
    let bare_rate = images as f64 / started.elapsed().as_secs_f64();
    let mut ids = Vec::new();
    for source in photos {
        ids.push(upload(&http, &base, &token, source, "image/jpeg").await);
    }
    let started = Instant::now();
    for id in &ids {
        let response = http
            .get(format!(
                "{base}/_matrix/client/v1/media/thumbnail/{id}?width=320&height=240&method=scale"
            ))
            .bearer_auth(&token)
            .send()
            .await
            .expect("thumbnail");
        assert!(response.status().is_success());
        response.bytes().await.expect("body");
    }
    let api_rate = images as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    for id in &ids {
        http.get(format!(
            "{base}/_matrix/client/v1/media/thumbnail/{id}?width=320&height=240&method=scale"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .expect("thumbnail")
        .bytes()
        .await
        .expect("body");
    }
    let cached_rate = images as f64 / started.elapsed().as_secs_f64();
    println!("thumbnails of {images} 1600x1200 JPEGs at 320x240:");
    println!("  bare render in process: {bare_rate:8.1} /s (baseline)");
    println!(
        "  through the API, new:   {api_rate:8.1} /s ({:.2}x the baseline)",
        api_rate / bare_rate
    );
    println!(
        "  through the API, cached:{cached_rate:8.1} /s ({:.1}x the baseline)",
        cached_rate / bare_rate
    );
    server.shutdown().await;
}
