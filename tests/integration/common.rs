//! Shared helpers: start a real Myelin on 127.0.0.1:0 and talk HTTP to it.

use myelin::RunningServer;
use myelin_core::config::Config;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub const PASSWORD: &str = "correct horse battery";

pub struct TestServer {
    pub server: Option<RunningServer>,
    pub url: String,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
}

#[derive(Debug, Clone)]
pub struct TestUser {
    pub user_id: String,
    pub access_token: String,
    pub device_id: String,
}

pub fn test_config(dir: &std::path::Path) -> Config {
    let mut config = Config::default();
    config.server.data_dir = dir.to_path_buf();
    config.client.bind = "127.0.0.1:0".parse().expect("address");
    config.federation.bind = "127.0.0.1:0".parse().expect("address");
    config.registration.open = true;
    config.rate_limits.enabled = false;
    config
}

impl TestServer {
    /// Open registration, no rate limits.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        init_test_logging();
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = test_config(dir.path());
        adjust(&mut config);
        let server = RunningServer::start(config).await.expect("server starts");
        let url = server.client_url();
        Self {
            server: Some(server),
            url,
            http: http_client(),
            dir,
        }
    }

    /// Stops the server gracefully and starts a new one on the same data directory.
    pub async fn restart(&mut self, adjust: impl FnOnce(&mut Config)) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
        let mut config = test_config(self.dir.path());
        adjust(&mut config);
        let server = RunningServer::start(config).await.expect("server restarts");
        self.url = server.client_url();
        self.server = Some(server);
    }

    /// Stops the server gracefully; `restart` starts it again.
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }

    pub fn server(&self) -> &RunningServer {
        self.server.as_ref().expect("server is running")
    }

    /// Sends a request; `body` of `None` sends no body. Returns status and parsed JSON (or the
    /// text as a JSON string when the body is not JSON).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let text = response.text().await.expect("body read");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url))
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let text = response.text().await.expect("body read");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.request(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.request(Method::POST, path, token, Some(body)).await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.request(Method::PUT, path, token, Some(body)).await
    }

    /// Registers through the real UIA flow of an open server (dummy stage).
    pub async fn register(&self, localpart: &str) -> TestUser {
        let body = json!({ "username": localpart, "password": PASSWORD, "auth": { "type": "m.login.dummy" } });
        let (status, response) = self.post("/_matrix/client/v3/register", None, body).await;
        assert_eq!(status, StatusCode::OK, "register {localpart}: {response}");
        user_from(&response)
    }

    pub async fn login(&self, localpart: &str, password: &str) -> (StatusCode, Value) {
        let body = json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": localpart }, "password": password });
        self.post("/_matrix/client/v3/login", None, body).await
    }

    /// The UIA `auth` dictionary for a password stage.
    pub fn password_auth(user: &TestUser, session: Option<&str>) -> Value {
        let mut auth = json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": user.user_id }, "password": PASSWORD });
        if let Some(session) = session {
            auth["session"] = session.into();
        }
        auth
    }
}

pub fn user_from(response: &Value) -> TestUser {
    TestUser {
        user_id: response["user_id"].as_str().expect("user_id").to_owned(),
        access_token: response["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned(),
        device_id: response["device_id"]
            .as_str()
            .expect("device_id")
            .to_owned(),
    }
}

/// Asserts an error response: status and errcode, and that `error` is a string.
#[track_caller]
pub fn assert_error(result: &(StatusCode, Value), status: StatusCode, errcode: &str) {
    assert_eq!(result.0, status, "unexpected status, body {}", result.1);
    assert_eq!(result.1["errcode"], errcode, "unexpected body {}", result.1);
    assert!(
        result.1["error"].is_string(),
        "error message missing in {}",
        result.1
    );
}

impl TestServer {
    pub async fn create_room(&self, user: &TestUser, body: Value) -> String {
        let (status, response) = self
            .post(
                "/_matrix/client/v3/createRoom",
                Some(&user.access_token),
                body,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "createRoom: {response}");
        response["room_id"].as_str().expect("room_id").to_owned()
    }

    pub async fn send_text(&self, user: &TestUser, room_id: &str, text: &str) -> String {
        let (status, response) = self.send_text_result(user, room_id, text).await;
        assert_eq!(status, StatusCode::OK, "send: {response}");
        response["event_id"].as_str().expect("event_id").to_owned()
    }

    pub async fn send_text_result(
        &self,
        user: &TestUser,
        room_id: &str,
        text: &str,
    ) -> (StatusCode, Value) {
        let txn = format!("send-text-{}", rand_suffix());
        let path = format!("/_matrix/client/v3/rooms/{room_id}/send/m.room.message/{txn}");
        self.put(
            &path,
            Some(&user.access_token),
            json!({ "msgtype": "m.text", "body": text }),
        )
        .await
    }

    pub async fn sync(&self, user: &TestUser, since: Option<&str>, timeout_ms: u64) -> Value {
        let mut path = format!("/_matrix/client/v3/sync?timeout={timeout_ms}");
        if let Some(since) = since {
            path.push_str(&format!("&since={since}"));
        }
        let (status, response) = self.get(&path, Some(&user.access_token)).await;
        assert_eq!(status, StatusCode::OK, "sync: {response}");
        response
    }

    pub async fn join(&self, user: &TestUser, room_id: &str) -> (StatusCode, Value) {
        self.post(
            &format!("/_matrix/client/v3/rooms/{room_id}/join"),
            Some(&user.access_token),
            json!({}),
        )
        .await
    }

    pub async fn invite(
        &self,
        user: &TestUser,
        room_id: &str,
        invitee: &TestUser,
    ) -> (StatusCode, Value) {
        self.post(
            &format!("/_matrix/client/v3/rooms/{room_id}/invite"),
            Some(&user.access_token),
            json!({ "user_id": invitee.user_id }),
        )
        .await
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// Bodies of the `m.room.message` events of a timeline, in order.
pub fn message_bodies(events: &Value) -> Vec<String> {
    events
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter(|event| event["type"] == "m.room.message")
                .filter_map(|event| event["content"]["body"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// GET over HTTPS from the federation listener (self-signed, so unverified), through curl: the
/// test client is built without TLS. Blocking; call from a multi-threaded runtime.
pub fn federation_get(address: std::net::SocketAddr, path: &str) -> Value {
    let output = std::process::Command::new("curl")
        .args(["-sk", "--fail", &format!("https://{address}{path}")])
        .output()
        .expect("curl runs");
    assert!(
        output.status.success(),
        "curl https://{address}{path}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("json")
}

/// A free port on 127.0.0.1 (bound and released; fine for tests on one machine).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

/// Settings for a server that federates with others on loopback: named `localhost:<port>` after
/// its federation port, self-signed peers accepted, 127.0.0.0/8 allowed.
pub fn federated(config: &mut Config, port: u16) {
    config.server.name = format!("localhost:{port}");
    config.federation.bind = format!("127.0.0.1:{port}").parse().expect("address");
    config.federation.verify_certificates = false;
    config.federation.ip_range_allowlist = vec!["127.0.0.0/8".into()];
}

impl TestServer {
    /// A server that federates on loopback (see [`federated`]); `restart` keeps its name if
    /// given the same adjustment.
    pub async fn start_federated() -> (Self, u16) {
        // A port found free can be taken by another test before this server binds it: then
        // another port is tried.
        for _ in 0..10 {
            init_test_logging();
            let port = free_port();
            let dir = tempfile::tempdir().expect("tempdir");
            let mut config = test_config(dir.path());
            federated(&mut config, port);
            match RunningServer::start(config).await {
                Ok(server) => {
                    let url = server.client_url();
                    let server = Self {
                        server: Some(server),
                        url,
                        http: http_client(),
                        dir,
                    };
                    return (server, port);
                }
                Err(myelin::StartError::Bind { error, .. })
                    if error.kind() == std::io::ErrorKind::AddrInUse => {}
                Err(error) => panic!("server starts: {error:?}"),
            }
        }
        panic!("no free federation port after 10 tries");
    }

    pub fn server_name(&self) -> String {
        self.server().services().rooms.server_name().to_string()
    }

    /// Syncs until `check` accepts the response (at most `seconds`), returning it.
    pub async fn sync_until(
        &self,
        user: &TestUser,
        seconds: u64,
        mut check: impl FnMut(&Value) -> bool,
    ) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
        let mut since: Option<String> = None;
        let mut seen = Vec::new();
        loop {
            let response = self.sync(user, since.as_deref(), 1000).await;
            seen.push(response.clone());
            // Judge the accumulated view: an initial sync plus every increment.
            let merged = Value::Array(seen.clone());
            if check(&merged) {
                return merged;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "condition not met within {seconds}s; last sync: {response}"
            );
            since = response["next_batch"].as_str().map(str::to_owned);
        }
    }
}

/// Every timeline event of `room_id` in a list of sync responses.
pub fn timeline_events(syncs: &Value, room_id: &str) -> Vec<Value> {
    syncs
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|sync| {
            sync["rooms"]["join"][room_id]["timeline"]["events"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect()
}

/// Server logs on stderr when `MYELIN_TEST_LOG` holds a filter (`MYELIN_TEST_LOG=debug`).
fn init_test_logging() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Ok(filter) = std::env::var("MYELIN_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
    });
}

/// A client for tests. reqwest is built with `rustls-no-provider` in this workspace, so the
/// process-wide crypto provider is installed first (servers in the process do it too, but a
/// test may build its client before starting one).
pub fn http_client() -> reqwest::Client {
    http_client_builder().build().expect("http client")
}

pub fn http_client_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}
