//! Discovery, operations endpoints and the generic HTTP behaviour.

use reqwest::{Method, StatusCode};

use crate::common::{TestServer, assert_error};

#[tokio::test]
async fn versions_and_capabilities_describe_the_server() {
    let server = TestServer::start().await;
    let (status, versions) = server.get("/_matrix/client/versions", None).await;
    assert_eq!(status, StatusCode::OK);
    let list: Vec<&str> = versions["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        list.contains(&"v1.1") && list.iter().all(|version| version.starts_with("v1.")),
        "{versions}"
    );
    assert!(versions["unstable_features"].is_object());
    // matrix-rust-sdk (Element X) looks for this to use sliding sync.
    assert_eq!(
        versions["unstable_features"]["org.matrix.simplified_msc3575"],
        true
    );

    crate::common::assert_error(
        &server.get("/_matrix/client/v3/capabilities", None).await,
        StatusCode::UNAUTHORIZED,
        "M_MISSING_TOKEN",
    );
    let alice = server.register("alice").await;
    let (status, capabilities) = server
        .get("/_matrix/client/v3/capabilities", Some(&alice.access_token))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        capabilities["capabilities"]["m.change_password"]["enabled"],
        true
    );
    assert_eq!(
        capabilities["capabilities"]["m.3pid_changes"]["enabled"],
        false
    );
    assert!(capabilities["capabilities"]["m.room_versions"]["default"].is_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn well_known_documents_point_at_the_listeners() {
    let server = TestServer::start().await;
    let (status, client) = server.get("/.well-known/matrix/client", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(client["m.homeserver"]["base_url"], server.url.as_str());
    let (status, federation) = server.get("/.well-known/matrix/server", None).await;
    assert_eq!(status, StatusCode::OK);
    let port = server
        .server()
        .federation_addr
        .expect("federation listener")
        .port();
    assert_eq!(federation["m.server"], format!("localhost:{port}"));

    let address = server.server().federation_addr.expect("addr");
    let version = crate::common::federation_get(address, "/_matrix/federation/v1/version");
    assert_eq!(version["server"]["name"], "Myelin");
}

#[tokio::test]
async fn unknown_paths_and_methods_are_unrecognized() {
    let server = TestServer::start().await;
    assert_error(
        &server
            .get("/_matrix/client/v3/no_such_endpoint", None)
            .await,
        StatusCode::NOT_FOUND,
        "M_UNRECOGNIZED",
    );
    assert_error(
        &server
            .request(Method::DELETE, "/_matrix/client/versions", None, None)
            .await,
        StatusCode::METHOD_NOT_ALLOWED,
        "M_UNRECOGNIZED",
    );
}

#[tokio::test]
async fn health_and_metrics_report() {
    let server = TestServer::start().await;
    let (status, body) = server.get("/health", None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, Some("OK")));
    server.get("/_matrix/client/versions", None).await;
    let (_, metrics) = server.get("/_myelin/metrics", None).await;
    let metrics = metrics.as_str().expect("text");
    assert!(metrics.contains("myelin_http_requests_total{method=\"GET\",route=\"/_matrix/client/versions\",status=\"200\"} 1"), "{metrics}");
    assert!(metrics.contains("myelin_store_flushes_total"));
}

#[tokio::test]
async fn cors_preflight_allows_browser_clients() {
    let server = TestServer::start().await;
    let response = server
        .http
        .request(
            Method::OPTIONS,
            format!("{}/_matrix/client/v3/login", server.url),
        )
        .header("Origin", "https://app.element.io")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization,content-type",
        )
        .send()
        .await
        .expect("preflight");
    assert!(response.status().is_success());
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let methods = response.headers()["access-control-allow-methods"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        methods.contains("PUT") && methods.contains("DELETE"),
        "{methods}"
    );
}

/// Extra well-known content (Element Call's LiveKit service, say) is served as configured, but
/// never replaces the homeserver's own base URL.
#[tokio::test]
async fn well_known_client_carries_configured_extra_content() {
    let server = TestServer::start_with(|config| {
        let extra = serde_json::json!({
            "org.matrix.msc4143.rtc_foci": [{ "type": "livekit", "livekit_service_url": "https://livekit.example.org" }],
            "m.homeserver": { "base_url": "https://elsewhere.example.org" },
        });
        config.client.well_known_extra = extra.as_object().cloned().expect("object");
    })
    .await;
    let (status, document) = server.get("/.well-known/matrix/client", None).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert_eq!(
        document["org.matrix.msc4143.rtc_foci"][0]["livekit_service_url"],
        "https://livekit.example.org"
    );
    assert_eq!(document["m.homeserver"]["base_url"], server.url.as_str());
}
