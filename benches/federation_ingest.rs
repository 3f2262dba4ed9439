//! Inbound federation throughput: transactions of 50 PDUs per second that a receiving server
//! accepts, Myelin against Synapse in the same run, with the very same signed transactions.
//!
//! Three servers share a room hosted on Synapse: Synapse (baseline receiver), Myelin A
//! (receiver) and Myelin B (origin). B signs chains of its user's messages, packs them 50 to a
//! transaction and sends the same transactions first to A, then to Synapse, one at a time as a
//! real sender does; each receiver answers after checking and persisting every PDU.
//!
//! Needs Synapse in `.venv-synapse` (scripts/test or scripts/bench-federation.sh installs it)
//! and openssl. Run: `cargo bench --bench federation_ingest -- [transactions]`.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use myelin::RunningServer;
use myelin_core::config::Config;
use ruma::{
    CanonicalJsonObject, CanonicalJsonValue, MilliSecondsSinceUnixEpoch, OwnedServerName,
    OwnedTransactionId, RoomId, UserId,
    api::{
        OutgoingRequestExt as _,
        federation::{authentication::XMatrixSigningInput, transactions::send_transaction_message},
    },
};
use serde_json::{Value, json};

const PDUS_PER_TRANSACTION: usize = 50;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

struct Synapse {
    child: Child,
    server_name: String,
    url: String,
    federation: String,
    _dir: tempfile::TempDir,
}

impl Drop for Synapse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_synapse(root: &Path) -> Synapse {
    let python = root.join(".venv-synapse/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/bench-federation.sh",
        python.display()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().display().to_string();
    let (tls_port, http_port) = (free_port(), free_port());
    let openssl = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout"])
        .arg(format!("{path}/tls.key"))
        .arg("-out")
        .arg(format!("{path}/tls.crt"))
        .args([
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ])
        .output()
        .expect("openssl runs");
    assert!(openssl.status.success(), "openssl failed");
    let template = std::fs::read_to_string(root.join("tests/interop/synapse-peer.yaml.template"))
        .expect("template");
    let server_name = format!("localhost:{tls_port}");
    let config = template
        .replace("@SERVER_NAME@", &server_name)
        .replace("@TLS_PORT@", &tls_port.to_string())
        .replace("@HTTP_PORT@", &http_port.to_string())
        .replace("@DIR@", &path)
        + "bcrypt_rounds: 4\n";
    std::fs::write(format!("{path}/homeserver.yaml"), config).expect("config");
    std::fs::write(
        format!("{path}/log.yaml"),
        format!(
            "version: 1\nhandlers:\n  file:\n    class: logging.FileHandler\n    filename: {path}/homeserver.log\nroot:\n  level: WARNING\n  handlers: [file]\n"
        ),
    )
    .expect("log config");
    let config_path = format!("{path}/homeserver.yaml");
    let generated = Command::new(&python)
        .args([
            "-m",
            "synapse.app.homeserver",
            "-c",
            &config_path,
            "--generate-keys",
        ])
        .output()
        .expect("synapse generates keys");
    assert!(generated.status.success(), "synapse --generate-keys failed");
    let child = Command::new(&python)
        .args(["-m", "synapse.app.homeserver", "-c", &config_path])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("synapse starts");
    Synapse {
        child,
        server_name,
        url: format!("http://127.0.0.1:{http_port}"),
        federation: format!("https://127.0.0.1:{tls_port}"),
        _dir: dir,
    }
}

async fn start_myelin(dir: &Path) -> RunningServer {
    let port = free_port();
    let mut config = Config::default();
    config.server.data_dir = dir.to_path_buf();
    config.server.name = format!("localhost:{port}");
    config.client.bind = "127.0.0.1:0".parse().expect("address");
    config.federation.bind = format!("127.0.0.1:{port}").parse().expect("address");
    config.federation.verify_certificates = false;
    config.federation.ip_range_allowlist = vec!["127.0.0.0/8".into()];
    config.registration.open = true;
    config.rate_limits.enabled = false;
    RunningServer::start(config).await.expect("myelin starts")
}

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Value,
) -> Value {
    let mut request = http.request(method, &url).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let value: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{url}: {status} {value}");
    value
}

/// Registers a user; returns (user id, token).
async fn register(http: &reqwest::Client, base: &str, name: &str) -> (String, String) {
    let body = json!({ "username": name, "password": "bench password 1", "auth": { "type": "m.login.dummy" } });
    let response = call(
        http,
        reqwest::Method::POST,
        format!("{base}/_matrix/client/v3/register"),
        None,
        body,
    )
    .await;
    (
        response["user_id"].as_str().expect("user_id").to_owned(),
        response["access_token"].as_str().expect("token").to_owned(),
    )
}

/// `count` signed messages of `sender` chained one after the other from B's view of the room.
fn chain(
    origin: &RunningServer,
    room_id: &RoomId,
    sender: &UserId,
    count: usize,
) -> Vec<CanonicalJsonObject> {
    let rooms = &origin.services().rooms;
    let spec = myelin_core::rooms::EventSpec::message(
        "m.room.message",
        json!({ "msgtype": "m.text", "body": "bench" }),
    );
    let (version, template) = rooms
        .event_template(room_id, sender, &spec)
        .expect("template");
    let depth = match template.get("depth") {
        Some(CanonicalJsonValue::Integer(depth)) => i64::from(*depth),
        _ => 1,
    };
    let mut prev: Option<String> = None;
    let mut events = Vec::with_capacity(count);
    for (n, depth) in (0..count).zip(depth..) {
        let mut object = template.clone();
        if let Some(prev) = &prev {
            object.insert(
                "prev_events".into(),
                CanonicalJsonValue::Array(vec![prev.clone().into()]),
            );
        }
        object.insert(
            "depth".into(),
            CanonicalJsonValue::Integer(depth.try_into().expect("depth")),
        );
        object.insert(
            "origin_server_ts".into(),
            CanonicalJsonValue::Integer(MilliSecondsSinceUnixEpoch::now().0.into()),
        );
        object.insert(
            "content".into(),
            serde_json::from_value(json!({ "msgtype": "m.text", "body": format!("bench {n}") }))
                .expect("content"),
        );
        let event = rooms.sign_template(&version, object).expect("signed");
        prev = Some(event.event_id.to_string());
        events.push(event.object);
    }
    events
}

/// Sends the transactions one by one; returns the seconds taken.
async fn deliver(
    origin: &RunningServer,
    destination_name: &str,
    destination_url: &str,
    transactions: &[Vec<CanonicalJsonObject>],
) -> f64 {
    let http = reqwest::Client::builder()
        .tls_danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(300))
        .build()
        .expect("client");
    let origin_name = origin.services().rooms.server_name().clone();
    let destination = OwnedServerName::try_from(destination_name).expect("name");
    let started = Instant::now();
    for (n, pdus) in transactions.iter().enumerate() {
        let mut request = send_transaction_message::v1::Request::new(
            OwnedTransactionId::from(format!("bench{n}_{}", rand::random::<u32>())),
            origin_name.clone(),
            MilliSecondsSinceUnixEpoch::now(),
        );
        request.pdus = pdus
            .iter()
            .map(|pdu| serde_json::value::to_raw_value(pdu).expect("raw"))
            .collect();
        let input = XMatrixSigningInput::new(
            origin_name.clone(),
            destination.clone(),
            &origin.services().keys.key_pair,
        );
        let http_request = request
            .try_into_http_request::<Vec<u8>>(destination_url, input, ())
            .expect("request");
        let response = http
            .execute(reqwest::Request::try_from(http_request).expect("reqwest request"))
            .await
            .expect("sent");
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{destination_name}: {status} {body}");
        let refused: Vec<&Value> = body["pdus"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(_, result)| result.get("error"))
            .collect();
        assert!(
            refused.is_empty(),
            "{destination_name} refused PDUs: {refused:?}"
        );
    }
    started.elapsed().as_secs_f64()
}

fn main() {
    let transactions: usize = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(40);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // reqwest is built with `rustls-no-provider` here: install the provider before any client.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let synapse = start_synapse(&root);
        let (dir_a, dir_b) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
        let a = start_myelin(dir_a.path()).await;
        let b = start_myelin(dir_b.path()).await;
        let http = reqwest::Client::new();
        for _ in 0..240 {
            if http.get(format!("{}/_matrix/client/versions", synapse.url)).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }

        let (_, owner) = register(&http, &synapse.url, "owner").await;
        let room = call(&http, reqwest::Method::POST, format!("{}/_matrix/client/v3/createRoom", synapse.url), Some(&owner),
            json!({ "preset": "public_chat", "room_version": "10" })).await;
        let room_id = room["room_id"].as_str().expect("room id").to_owned();
        let quoted = room_id.replace('!', "%21").replace(':', "%3A");
        let mut sender = String::new();
        for (server, name) in [(&a, "reader"), (&b, "writer")] {
            let (user, token) = register(&http, &server.client_url(), name).await;
            call(&http, reqwest::Method::POST,
                format!("{}/_matrix/client/v3/join/{quoted}?server_name={}", server.client_url(), synapse.server_name),
                Some(&token), json!({})).await;
            sender = user;
        }
        // Let the joins settle everywhere before building on B's view.
        tokio::time::sleep(Duration::from_secs(3)).await;

        let room = RoomId::parse(&room_id).expect("room id");
        let sender = UserId::parse(&sender).expect("user id");
        let events = chain(&b, &room, &sender, transactions * PDUS_PER_TRANSACTION);
        let batches: Vec<Vec<CanonicalJsonObject>> = events.chunks(PDUS_PER_TRANSACTION).map(<[_]>::to_vec).collect();

        let federation_a = format!("https://{}", a.federation_addr.expect("federation"));
        let myelin_seconds = deliver(&b, a.services().rooms.server_name().as_str(), &federation_a, &batches).await;
        let synapse_seconds = deliver(&b, &synapse.server_name, &synapse.federation, &batches).await;
        let result = json!({
            "transactions": transactions,
            "pdus_per_transaction": PDUS_PER_TRANSACTION,
            "myelin_transactions_per_second": (transactions as f64 / myelin_seconds * 100.0).round() / 100.0,
            "synapse_transactions_per_second": (transactions as f64 / synapse_seconds * 100.0).round() / 100.0,
            "myelin_over_synapse": (synapse_seconds / myelin_seconds * 100.0).round() / 100.0,
        });
        println!("{}", serde_json::to_string_pretty(&result).expect("json"));
        if let Ok(out) = std::env::var("BENCH_OUT") {
            std::fs::write(out, serde_json::to_string_pretty(&result).expect("json") + "\n").expect("write result");
        }
        a.shutdown().await;
        b.shutdown().await;
    });
}
