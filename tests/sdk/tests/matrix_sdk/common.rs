//! What the matrix-sdk tests share: a real `myelin` process and matrix-sdk clients on it.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use matrix_sdk::{
    Client, RoomState,
    config::SyncSettings,
    encryption::{BackupDownloadStrategy, EncryptionSettings},
    ruma::{
        OwnedRoomId,
        api::client::{account::register, uiaa},
    },
};

pub const PASSWORD: &str = "correct horse battery";

/// A `myelin` process with open registration on a free loopback port.
pub struct Myelin {
    child: Child,
    pub url: String,
    _data: tempfile::TempDir,
}

impl Myelin {
    pub fn start() -> Self {
        let binary = std::env::var("MYELIN_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/myelin")
            });
        assert!(
            binary.exists(),
            "{} is missing: run `cargo build --bins` first (scripts/test does)",
            binary.display()
        );
        let data = tempfile::tempdir().expect("data dir");
        let mut child = Command::new(binary)
            .env("MYELIN_SERVER__DATA_DIR", data.path())
            .env("MYELIN_CLIENT__BIND", "127.0.0.1:0")
            .env("MYELIN_FEDERATION__ENABLED", "false")
            .env("MYELIN_RATE_LIMITS__ENABLED", "false")
            .env("MYELIN_REGISTRATION__OPEN", "true")
            .env("MYELIN_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("myelin starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("myelin exited before listening")
                .expect("log line");
            if let Some(rest) = line.split("client API listening on ").nth(1) {
                break rest.split_whitespace().next().expect("address").to_owned();
            }
        };
        // Keep draining the log so the process never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            url,
            _data: data,
        }
    }
}

impl Drop for Myelin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn new_client(url: &str) -> Client {
    Client::builder()
        .homeserver_url(url)
        .with_encryption_settings(EncryptionSettings {
            auto_enable_cross_signing: true,
            backup_download_strategy: BackupDownloadStrategy::Manual,
            auto_enable_backups: false,
        })
        .build()
        .await
        .expect("client")
}

pub async fn register(url: &str, name: &str) -> Client {
    let client = new_client(url).await;
    let mut request = register::v3::Request::new();
    request.username = Some(name.to_owned());
    request.password = Some(PASSWORD.to_owned());
    request.initial_device_display_name = Some(format!("{name} first device"));
    request.auth = Some(uiaa::AuthData::Dummy(uiaa::Dummy::new()));
    client
        .matrix_auth()
        .register(request)
        .await
        .expect("registration");
    client
        .encryption()
        .wait_for_e2ee_initialization_tasks()
        .await;
    client
}

pub async fn login(url: &str, name: &str) -> Client {
    let client = new_client(url).await;
    client
        .matrix_auth()
        .login_username(name, PASSWORD)
        .initial_device_display_name(&format!("{name} second device"))
        .await
        .expect("login");
    client
        .encryption()
        .wait_for_e2ee_initialization_tasks()
        .await;
    client
}

pub async fn sync_once(client: &Client) {
    client
        .sync_once(SyncSettings::default().timeout(Duration::from_millis(500)))
        .await
        .expect("sync");
}

/// A GET with the standard library only (the SDK's HTTP client is not ours to test with).
pub async fn reqwest_free_get(base: &str, token: &str, path: &str) -> serde_json::Value {
    let address = base.trim_start_matches("http://").to_owned();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&address).expect("connect");
        stream.write_all(request.as_bytes()).expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null)
    })
    .await
    .expect("request task")
}

/// Polls `check` until it holds, failing the test after `seconds`.
pub async fn eventually<F, Fut>(what: &str, seconds: u64, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{what} did not happen within {seconds}s");
}

pub fn room_state(client: &Client, room_id: &OwnedRoomId) -> Option<RoomState> {
    client.get_room(room_id).map(|room| room.state())
}
