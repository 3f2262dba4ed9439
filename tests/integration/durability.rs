//! The `myelin` binary as a process: SIGKILL durability, graceful SIGTERM, exit codes, the CLI,
//! and the first-start guidance.

use std::{
    io::{BufRead as _, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{PASSWORD, user_from};

pub(crate) const BINARY: &str = env!("CARGO_BIN_EXE_myelin");

pub(crate) struct ServerProcess {
    pub(crate) child: Child,
    pub(crate) url: String,
    pub(crate) lines: mpsc::Receiver<String>,
}

/// A test that fails half-way does not leave its server running (its output would hold the
/// test runner's pipes open).
impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn server_env(data_dir: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("MYELIN_SERVER__DATA_DIR", data_dir.display().to_string()),
        ("MYELIN_CLIENT__BIND", "127.0.0.1:0".into()),
        ("MYELIN_FEDERATION__ENABLED", "false".into()),
        ("MYELIN_REGISTRATION__OPEN", "true".into()),
        ("MYELIN_RATE_LIMITS__ENABLED", "false".into()),
    ]
}

/// Starts the binary and waits for the line that says where it listens.
pub(crate) fn spawn_server(environment: &[(&'static str, String)]) -> ServerProcess {
    let mut child = Command::new(BINARY)
        .envs(
            environment
                .iter()
                .map(|(key, value)| (*key, value.as_str())),
        )
        .env("MYELIN_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn myelin");
    let stdout = child.stdout.take().expect("stdout");
    let (sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let url = wait_for_line(&lines, "client API listening on ")
        .split("listening on ")
        .nth(1)
        .expect("address")
        .trim()
        .to_owned();
    ServerProcess { child, url, lines }
}

pub(crate) fn wait_for_line(lines: &mpsc::Receiver<String>, needle: &str) -> String {
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no log line containing {needle:?}"));
        if line.contains(needle) {
            return line;
        }
    }
}

/// The message bodies of a room (up to 500, newest first) as `user` reads them.
pub(crate) async fn message_bodies_of(
    http: &reqwest::Client,
    url: &str,
    user: &crate::common::TestUser,
    room_id: &str,
) -> Vec<String> {
    let page: serde_json::Value = http
        .get(format!(
            "{url}/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=500"
        ))
        .bearer_auth(&user.access_token)
        .send()
        .await
        .expect("messages")
        .json()
        .await
        .expect("json");
    crate::common::message_bodies(&page["chunk"])
}

pub(crate) async fn register(
    http: &reqwest::Client,
    url: &str,
    localpart: &str,
) -> crate::common::TestUser {
    let body =
        json!({ "username": localpart, "password": PASSWORD, "auth": { "type": "m.login.dummy" } });
    let response: serde_json::Value = http
        .post(format!("{url}/_matrix/client/v3/register"))
        .json(&body)
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("json");
    user_from(&response)
}

#[tokio::test]
async fn acknowledged_writes_survive_sigkill() {
    let rounds: usize = std::env::var("MYELIN_SIGKILL_ROUNDS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(2);
    let dir = tempfile::tempdir().expect("tempdir");
    let environment = server_env(dir.path());
    let http = crate::common::http_client();
    let mut server = spawn_server(&environment);
    let alice = register(&http, &server.url, "alice").await;
    for round in 0..rounds {
        // Many concurrent writers, so group commit is exercised, then SIGKILL the moment the
        // last acknowledgement arrives.
        let writes = (0..64).map(|index| {
            let (http, url, alice) = (http.clone(), server.url.clone(), alice.clone());
            async move {
                let path = format!(
                    "{url}/_matrix/client/v3/user/{}/account_data/org.example.r{round}.n{index}",
                    alice.user_id
                );
                http.put(path)
                    .bearer_auth(&alice.access_token)
                    .json(&json!({ "round": round, "index": index }))
                    .send()
                    .await
                    .expect("put")
                    .status()
            }
        });
        let statuses = futures_join_all(writes).await;
        assert!(
            statuses.iter().all(|status| *status == StatusCode::OK),
            "{statuses:?}"
        );
        server.child.kill().expect("SIGKILL");
        server.child.wait().expect("reaped");

        server = spawn_server(&environment);
        for earlier in 0..=round {
            for index in 0..64 {
                let path = format!(
                    "{}/_matrix/client/v3/user/{}/account_data/org.example.r{earlier}.n{index}",
                    server.url, alice.user_id
                );
                let response = http
                    .get(path)
                    .bearer_auth(&alice.access_token)
                    .send()
                    .await
                    .expect("get");
                assert_eq!(
                    response.status(),
                    StatusCode::OK,
                    "round {earlier} write {index} lost after SIGKILL"
                );
                let content: serde_json::Value = response.json().await.expect("json");
                assert_eq!(content, json!({ "round": earlier, "index": index }));
            }
        }
    }
    server.child.kill().expect("kill");
    let _ = server.child.wait();
}

async fn futures_join_all<F: std::future::Future<Output = StatusCode> + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<StatusCode> {
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut statuses = Vec::new();
    for handle in handles {
        statuses.push(handle.await.expect("task"));
    }
    statuses
}

#[tokio::test]
async fn sigterm_finishes_and_exits_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = spawn_server(&server_env(dir.path()));
    let pid = server.child.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    let exit = server.child.wait().expect("wait");
    assert_eq!(exit.code(), Some(0));
    wait_for_line(&server.lines, "Myelin stopped");
}

/// SIGTERM while a client long-polls (or any request is stuck) ends the process after the
/// shutdown grace period instead of waiting for the request: it used to wait forever for a
/// request pinned in computation, and for every long-poll to time out.
#[tokio::test]
async fn sigterm_during_a_long_poll_exits_after_the_grace_period() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = spawn_server(&server_env(dir.path()));
    let http = crate::common::http_client();
    let alice = register(&http, &server.url, "alice").await;
    let first: serde_json::Value = http
        .get(format!("{}/_matrix/client/v3/sync?timeout=0", server.url))
        .bearer_auth(&alice.access_token)
        .send()
        .await
        .expect("sync")
        .json()
        .await
        .expect("json");
    let since = first["next_batch"].as_str().expect("next_batch").to_owned();
    let long_poll = tokio::spawn({
        let url = format!(
            "{}/_matrix/client/v3/sync?since={since}&timeout=280000",
            server.url
        );
        let token = alice.access_token.clone();
        async move { http.get(url).bearer_auth(token).send().await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = std::time::Instant::now();
    let pid = server.child.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || server.child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert_eq!(exit.code(), Some(0));
    // 10 s of grace for in-flight requests, then they are cut off; the long-poll asked for 280.
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "exited after {:?}",
        started.elapsed()
    );
    long_poll.abort();
}

#[test]
fn bad_config_exits_with_code_2_and_one_line_naming_file_key_and_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[server]\nname = \"example.org\"\nbogus = 1\n").expect("write");
    let output = Command::new(BINARY)
        .args(["--config", file.to_str().expect("utf8"), "config", "check"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("bad.toml")
            && stderr.contains("server.bogus")
            && stderr.contains("unknown field"),
        "{stderr}"
    );

    let output = Command::new(BINARY)
        .env("MYELIN_CLIENT__BIND", "not an address")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("MYELIN_CLIENT__BIND") && stderr.contains("client.bind"),
        "{stderr}"
    );

    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[server]\nname = \"example.org\"\n").expect("write");
    let output = Command::new(BINARY)
        .args(["--config", good.to_str().expect("utf8"), "config", "check"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stdout).contains("server example.org"));
}

#[tokio::test]
async fn acknowledged_events_survive_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let environment = server_env(dir.path());
    let http = crate::common::http_client();
    let mut server = spawn_server(&environment);
    let alice = register(&http, &server.url, "alice").await;
    let created: serde_json::Value = http
        .post(format!("{}/_matrix/client/v3/createRoom", server.url))
        .bearer_auth(&alice.access_token)
        .json(&json!({}))
        .send()
        .await
        .expect("createRoom")
        .json()
        .await
        .expect("json");
    let room_id = created["room_id"].as_str().expect("room id").to_owned();
    let sends = (0..40).map(|index| {
        let (http, url, alice, room_id) = (
            http.clone(),
            server.url.clone(),
            alice.clone(),
            room_id.clone(),
        );
        async move {
            let path =
                format!("{url}/_matrix/client/v3/rooms/{room_id}/send/m.room.message/kill{index}");
            http.put(path)
                .bearer_auth(&alice.access_token)
                .json(&json!({ "msgtype": "m.text", "body": format!("durable {index}") }))
                .send()
                .await
                .expect("send")
                .status()
        }
    });
    let statuses = futures_join_all(sends).await;
    assert!(
        statuses.iter().all(|status| *status == StatusCode::OK),
        "{statuses:?}"
    );
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reaped");

    let mut server = spawn_server(&environment);
    let mut bodies = message_bodies_of(&http, &server.url, &alice, &room_id).await;
    bodies.sort();
    let mut expected: Vec<String> = (0..40).map(|index| format!("durable {index}")).collect();
    expected.sort();
    assert_eq!(
        bodies, expected,
        "every acknowledged event is there after SIGKILL"
    );
    server.child.kill().expect("kill");
    let _ = server.child.wait();
}

#[tokio::test(flavor = "multi_thread")]
async fn pdus_acknowledged_over_federation_survive_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = crate::common::free_port();
    let mut environment = server_env(dir.path());
    environment.retain(|(key, _)| *key != "MYELIN_FEDERATION__ENABLED");
    environment.extend([
        ("MYELIN_SERVER__NAME", format!("localhost:{port}")),
        ("MYELIN_FEDERATION__BIND", format!("127.0.0.1:{port}")),
        ("MYELIN_FEDERATION__VERIFY_CERTIFICATES", "false".into()),
        (
            "MYELIN_FEDERATION__IP_RANGE_ALLOWLIST",
            r#"["127.0.0.0/8"]"#.into(),
        ),
    ]);
    let http = crate::common::http_client();
    let mut server = spawn_server(&environment);
    let alice = register(&http, &server.url, "alice").await;
    let created: serde_json::Value = http
        .post(format!("{}/_matrix/client/v3/createRoom", server.url))
        .bearer_auth(&alice.access_token)
        .json(&json!({ "preset": "public_chat", "room_version": "11" }))
        .send()
        .await
        .expect("createRoom")
        .json()
        .await
        .expect("json");
    let room_id = created["room_id"].as_str().expect("room id").to_owned();

    // A second server, in this process, joins and sends three transactions of 50 PDUs.
    let (origin, _) = crate::common::TestServer::start_federated().await;
    let bob = origin.register("bob").await;
    let joined = origin
        .post(
            &format!("/_matrix/client/v3/join/{room_id}?via=localhost:{port}"),
            Some(&bob.access_token),
            json!({}),
        )
        .await;
    assert_eq!(joined.0, StatusCode::OK, "{}", joined.1);
    let events = crate::federation_helpers::chained_messages(&origin, &room_id, &bob.user_id, 150);
    let receiver = ReceiverName {
        name: format!("localhost:{port}"),
        port,
    };
    for batch in events.chunks(50) {
        let (status, body) = receiver.send(&origin, batch.to_vec()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reaped");

    let mut server = spawn_server(&environment);
    let bodies = message_bodies_of(&http, &server.url, &alice, &room_id).await;
    assert_eq!(
        bodies.len(),
        150,
        "every acknowledged PDU is there after SIGKILL"
    );
    server.child.kill().expect("kill");
    let _ = server.child.wait();
}

/// The binary under test as a federation destination.
struct ReceiverName {
    name: String,
    port: u16,
}

impl ReceiverName {
    async fn send(
        &self,
        origin: &crate::common::TestServer,
        pdus: Vec<serde_json::Value>,
    ) -> (StatusCode, serde_json::Value) {
        crate::federation_helpers::send_transaction_to(origin, &self.name, self.port, pdus).await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_the_appservice_registrations() {
    let dir = tempfile::tempdir().expect("dir");
    let registration = dir.path().join("late.yaml");
    std::fs::write(
        &registration,
        "id: late\nurl: null\nas_token: late-as-token\nhs_token: late-hs-token\nsender_localpart: latebot\nnamespaces:\n  users: []\n",
    )
    .expect("registration");
    let config = dir.path().join("myelin.toml");
    std::fs::write(&config, "[appservices]\nregistration_files = []\n").expect("config");
    let mut environment = server_env(&dir.path().join("data"));
    environment.push(("MYELIN_CONFIG", config.display().to_string()));
    let mut server = spawn_server(&environment);
    let http = crate::common::http_client();
    let whoami = || {
        http.get(format!("{}/_matrix/client/v3/account/whoami", server.url))
            .bearer_auth("late-as-token")
            .send()
    };
    assert_eq!(
        whoami().await.expect("sent").status(),
        StatusCode::UNAUTHORIZED
    );

    // The registration is added to the config; SIGHUP makes it count.
    std::fs::write(
        &config,
        format!(
            "[appservices]\nregistration_files = [{:?}]\n",
            registration.display().to_string()
        ),
    )
    .expect("config");
    let status = Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(status.success());
    wait_for_line(&server.lines, "appservice registrations reloaded");
    let response = whoami().await.expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["user_id"], "@latebot:localhost");
    let _ = server.child.kill();
    let _ = server.child.wait();
}

/// A scheduled delayed event (MSC4140) survives SIGKILL right after it was acknowledged, and
/// is sent once, on time, after the restart.
#[tokio::test]
async fn delayed_events_survive_sigkill_and_are_sent_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let environment = server_env(dir.path());
    let http = crate::common::http_client();
    let mut server = spawn_server(&environment);
    let alice = register(&http, &server.url, "alice").await;
    let created: serde_json::Value = http
        .post(format!("{}/_matrix/client/v3/createRoom", server.url))
        .bearer_auth(&alice.access_token)
        .json(&json!({}))
        .send()
        .await
        .expect("createRoom")
        .json()
        .await
        .expect("json");
    let room_id = created["room_id"].as_str().expect("room id").to_owned();
    let answer: serde_json::Value = http
        .put(format!(
            "{}/_matrix/client/v3/rooms/{room_id}/send/m.room.message/delayed1?org.matrix.msc4140.delay=2000",
            server.url
        ))
        .bearer_auth(&alice.access_token)
        .json(&json!({ "msgtype": "m.text", "body": "left the call" }))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert!(answer["delay_id"].is_string(), "{answer}");
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reaped");

    let mut server = spawn_server(&environment);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let bodies = message_bodies_of(&http, &server.url, &alice, &room_id).await;
        let sent = bodies
            .iter()
            .filter(|body| *body == "left the call")
            .count();
        if sent > 0 {
            assert_eq!(sent, 1, "sent once: {bodies:?}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never sent after the restart"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Nothing more comes later.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let bodies = message_bodies_of(&http, &server.url, &alice, &room_id).await;
    assert_eq!(
        bodies
            .iter()
            .filter(|body| *body == "left the call")
            .count(),
        1
    );
    server.child.kill().expect("kill");
    let _ = server.child.wait();
}
