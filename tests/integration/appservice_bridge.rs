//! The stub bridge the appservice tests register: an HTTP server on loopback that records the
//! transactions, queries and pings it gets, answers third-party lookups, and can be "down".

use std::sync::{Arc, Mutex};

use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode as AxumStatus},
    routing::{get, post, put},
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::TestServer;

pub(crate) const AS_TOKEN: &str = "as-token-of-the-bridge";
pub(crate) const HS_TOKEN: &str = "hs-token-of-the-bridge";

/// What the stub bridge saw, and whether it is "down".
#[derive(Clone, Default)]
pub(crate) struct Bridge {
    pub(crate) transactions: Arc<Mutex<Vec<(String, Value)>>>,
    pub(crate) queries: Arc<Mutex<Vec<String>>>,
    pub(crate) pings: Arc<Mutex<Vec<Value>>>,
    pub(crate) down: Arc<Mutex<bool>>,
}

pub(crate) fn authorised(headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        == Some(&format!("Bearer {HS_TOKEN}"))
}

pub(crate) async fn transaction(
    State(bridge): State<Bridge>,
    Path(txn_id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (AxumStatus, Json<Value>) {
    if !authorised(&headers) {
        return (
            AxumStatus::FORBIDDEN,
            Json(json!({ "errcode": "M_FORBIDDEN" })),
        );
    }
    if *bridge.down.lock().expect("lock") {
        return (AxumStatus::SERVICE_UNAVAILABLE, Json(json!({})));
    }
    bridge
        .transactions
        .lock()
        .expect("lock")
        .push((txn_id, body));
    (AxumStatus::OK, Json(json!({})))
}

pub(crate) async fn query(
    State(bridge): State<Bridge>,
    Path(what): Path<String>,
) -> (AxumStatus, Json<Value>) {
    bridge.queries.lock().expect("lock").push(what);
    (
        AxumStatus::NOT_FOUND,
        Json(json!({ "errcode": "M_NOT_FOUND" })),
    )
}

pub(crate) async fn ping(State(bridge): State<Bridge>, Json(body): Json<Value>) -> Json<Value> {
    bridge.pings.lock().expect("lock").push(body);
    Json(json!({}))
}

pub(crate) async fn irc_protocol() -> Json<Value> {
    Json(json!({
        "user_fields": ["network", "nickname"],
        "location_fields": ["network", "channel"],
        "icon": "mxc://localhost/irc",
        "field_types": {},
        "instances": [{ "network_id": "loopnet", "desc": "Loop network", "fields": {} }],
    }))
}

pub(crate) async fn irc_location(
    axum::extract::Query(fields): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Json<Value> {
    let channel = fields.get("channel").cloned().unwrap_or_default();
    Json(json!([{
        "alias": format!("#bridge_{}:localhost", channel.trim_start_matches('#')),
        "protocol": "irc",
        "fields": { "network": "loopnet", "channel": channel },
    }]))
}

impl Bridge {
    pub(crate) async fn start(&self) -> String {
        let app = Router::new()
            .route("/_matrix/app/v1/transactions/{txn}", put(transaction))
            .route("/_matrix/app/v1/users/{user}", get(query))
            .route("/_matrix/app/v1/rooms/{alias}", get(query))
            .route("/_matrix/app/v1/ping", post(ping))
            .route("/_matrix/app/v1/thirdparty/protocol/irc", get(irc_protocol))
            .route("/_matrix/app/v1/thirdparty/location/irc", get(irc_location))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{address}")
    }

    /// Every ephemeral event delivered so far.
    pub(crate) fn ephemeral(&self) -> Vec<Value> {
        self.transactions
            .lock()
            .expect("lock")
            .iter()
            .flat_map(|(_, body)| body["ephemeral"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    /// Every event delivered so far, in delivery order.
    pub(crate) fn events(&self) -> Vec<Value> {
        self.transactions
            .lock()
            .expect("lock")
            .iter()
            .flat_map(|(_, body)| body["events"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    pub(crate) async fn wait_for_event(&self, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            if let Some(event) = self.events().into_iter().find(|event| check(event)) {
                return event;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "not delivered; got {:?}",
                self.events()
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

pub(crate) async fn server_with_bridge(bridge: &Bridge) -> (TestServer, tempfile::TempDir) {
    server_with_bridge_and(bridge, "").await
}

/// The test bridge's registration with `extra` lines appended.
pub(crate) async fn server_with_bridge_and(
    bridge: &Bridge,
    extra: &str,
) -> (TestServer, tempfile::TempDir) {
    let url = bridge.start().await;
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("bridge.yaml");
    std::fs::write(
        &file,
        format!(
            "id: testbridge\nurl: {url}\nas_token: {AS_TOKEN}\nhs_token: {HS_TOKEN}\nsender_localpart: bridgebot\nrate_limited: false\nnamespaces:\n  users:\n    - exclusive: true\n      regex: '@bridge_.*:localhost'\n  aliases:\n    - exclusive: true\n      regex: '#bridge_.*:localhost'\n{extra}"
        ),
    )
    .expect("registration");
    let server = TestServer::start_with(|config| {
        config.appservices.registration_files = vec![file.clone()];
    })
    .await;
    (server, dir)
}

pub(crate) async fn as_call(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    server
        .request(method, path, Some(AS_TOKEN), Some(body))
        .await
}

pub(crate) fn registration_text(id: &str, url: &str, prefix: &str) -> String {
    format!(
        "id: {id}\nurl: {url}\nas_token: as-{id}\nhs_token: {HS_TOKEN}-{id}\nsender_localpart: {id}bot\nnamespaces:\n  users:\n    - exclusive: true\n      regex: '@{prefix}_.*:localhost'\n"
    )
}
