//! matrix-sdk (the Rust SDK behind Element X) against a real `myelin` process: cross-signing
//! bootstrapped at login, recovery (secret storage + key backup) enabled on one device, and a
//! second device of the same user that recovers with the recovery key, finds itself
//! cross-signed, and decrypts an old message with the room key from the server-side backup.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use matrix_sdk::{
    Client,
    config::SyncSettings,
    encryption::{BackupDownloadStrategy, EncryptionSettings},
    ruma::{
        api::client::{account::register, room::create_room, uiaa},
        events::{
            AnySyncMessageLikeEvent, AnySyncTimelineEvent, room::message::RoomMessageEventContent,
        },
    },
};

const PASSWORD: &str = "correct horse battery";

/// A `myelin` process with open registration on a free loopback port.
struct Myelin {
    child: Child,
    url: String,
    _data: tempfile::TempDir,
}

impl Myelin {
    fn start() -> Self {
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

async fn new_client(url: &str) -> Client {
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

async fn register(url: &str, name: &str) -> Client {
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

async fn login(url: &str, name: &str) -> Client {
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

async fn sync_once(client: &Client) {
    client
        .sync_once(SyncSettings::default().timeout(Duration::from_millis(500)))
        .await
        .expect("sync");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_device_recovers_and_decrypts_history_from_the_key_backup() {
    let server = Myelin::start();
    let first = register(&server.url, "alice").await;
    sync_once(&first).await;
    let own_identity = first
        .encryption()
        .get_user_identity(first.user_id().expect("user"))
        .await
        .expect("identity query");
    assert!(
        own_identity.is_some(),
        "cross-signing was bootstrapped through device_signing/upload"
    );

    // An encrypted room with a message only the first device has the key for.
    let mut request = create_room::v3::Request::new();
    request.name = Some("Diary".to_owned());
    let room = first.create_room(request).await.expect("room");
    room.enable_encryption().await.expect("encryption on");
    sync_once(&first).await;
    let sent = room
        .send(RoomMessageEventContent::text_plain("the secret is 42"))
        .await
        .expect("sent");

    // Recovery: secret storage, a backup version, and the room keys uploaded to it.
    let recovery_key = first
        .encryption()
        .recovery()
        .enable()
        .wait_for_backups_to_upload()
        .await
        .expect("recovery enabled");
    let backed_up = reqwest_free_get(
        &server.url,
        first.access_token().as_deref().expect("token"),
        "/_matrix/client/v3/room_keys/version",
    )
    .await;
    assert!(
        backed_up["count"].as_u64().is_some_and(|count| count >= 1),
        "room keys reached the backup: {backed_up}"
    );

    // A new device: it has no room keys until it recovers.
    let second = login(&server.url, "alice").await;
    sync_once(&second).await;
    let room_on_second = second.get_room(room.room_id()).expect("room known");
    let before = room_on_second
        .event(&sent.response.event_id, None)
        .await
        .expect("event");
    assert!(
        !matches!(
            before.kind,
            matrix_sdk::deserialized_responses::TimelineEventKind::Decrypted(_)
        ),
        "the new device cannot decrypt before recovery"
    );

    second
        .encryption()
        .recovery()
        .recover(&recovery_key)
        .await
        .expect("recovered");
    second
        .encryption()
        .backups()
        .download_room_keys_for_room(room.room_id())
        .await
        .expect("keys downloaded from the backup");
    let after = room_on_second
        .event(&sent.response.event_id, None)
        .await
        .expect("event");
    let body = match after.raw().deserialize().expect("event JSON") {
        AnySyncTimelineEvent::MessageLike(AnySyncMessageLikeEvent::RoomMessage(message)) => message
            .as_original()
            .map(|original| original.content.body().to_owned()),
        other => panic!("not a decrypted message: {other:?}"),
    };
    assert_eq!(body.as_deref(), Some("the secret is 42"));

    // Recovery imported the cross-signing keys: the second device signed itself, and the
    // first device sees it as cross-signed by its owner (signatures/upload, keys/query).
    sync_once(&first).await;
    let second_device = first
        .encryption()
        .get_device(
            first.user_id().expect("user"),
            second.device_id().expect("device"),
        )
        .await
        .expect("device query")
        .expect("device known");
    assert!(
        second_device.is_cross_signed_by_owner(),
        "the new device is cross-signed"
    );
}

/// A GET with the standard library only (the SDK's HTTP client is not ours to test with).
async fn reqwest_free_get(base: &str, token: &str, path: &str) -> serde_json::Value {
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
