//! What leaves the server is a stream item first: a join taken in through `send_join` and
//! to-device messages for other servers reach them even when the server is SIGKILLed right
//! after answering, while they were down.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    common::{TestServer, federated},
    durability::{ServerProcess, register, server_env, spawn_server},
};

/// The `myelin` binary federating on loopback as `localhost:<port>`.
fn federated_binary(data_dir: &std::path::Path) -> (Vec<(&'static str, String)>, u16) {
    let port = crate::common::free_port();
    let mut environment = server_env(data_dir);
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
    (environment, port)
}

fn sigkill(server: &mut ServerProcess) {
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reaped");
}

/// The resident server relays a remote `send_join` to the room's other servers from the
/// stream: killed right after answering it, while the third server is down, it still tells
/// that server after the restart, and the join shows there once.
#[tokio::test(flavor = "multi_thread")]
async fn a_join_taken_in_by_send_join_reaches_the_other_servers_after_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (environment, port) = federated_binary(dir.path());
    let resident_name = format!("localhost:{port}");
    let http = crate::common::http_client();
    let mut resident = spawn_server(&environment);
    let alice = register(&http, &resident.url, "alice").await;
    let created: Value = http
        .post(format!("{}/_matrix/client/v3/createRoom", resident.url))
        .bearer_auth(&alice.access_token)
        .json(&json!({ "preset": "public_chat" }))
        .send()
        .await
        .expect("createRoom")
        .json()
        .await
        .expect("json");
    let room_id = created["room_id"].as_str().expect("room id").to_owned();
    let join_path = format!("/_matrix/client/v3/join/{room_id}?server_name={resident_name}");

    // Charlie's server is in the room, then goes down.
    let (mut third, third_port) = TestServer::start_federated().await;
    let charlie = third.register("charlie").await;
    let joined = third
        .post(&join_path, Some(&charlie.access_token), json!({}))
        .await;
    assert_eq!(joined.0, StatusCode::OK, "{}", joined.1);
    third.stop().await;

    // Bob's server joins through the resident, which is killed as soon as it answered.
    let (joiner, _) = TestServer::start_federated().await;
    let bob = joiner.register("bob").await;
    let joined = joiner
        .post(&join_path, Some(&bob.access_token), json!({}))
        .await;
    assert_eq!(joined.0, StatusCode::OK, "{}", joined.1);
    sigkill(&mut resident);

    third.restart(|config| federated(config, third_port)).await;
    let mut resident = spawn_server(&environment);
    let synced = third
        .sync_until(&charlie, 60, |syncs| {
            crate::common::timeline_events(syncs, &room_id)
                .iter()
                .any(|event| is_join_of(event, &bob.user_id))
        })
        .await;
    let joins = crate::common::timeline_events(&synced, &room_id)
        .iter()
        .filter(|event| is_join_of(event, &bob.user_id))
        .count();
    assert_eq!(joins, 1, "Bob's join shows once on Charlie's server");
    sigkill(&mut resident);
}

fn is_join_of(event: &Value, user_id: &str) -> bool {
    event["type"] == "m.room.member"
        && event["state_key"] == user_id
        && event["content"]["membership"] == "join"
}

/// To-device messages for another server are written with the request's transaction: killed
/// right after answering, while that server is down, the server still delivers them after the
/// restart, and the client's retry of the same transaction adds nothing.
#[tokio::test(flavor = "multi_thread")]
async fn to_device_messages_for_another_server_survive_sigkill_right_after_the_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (environment, _) = federated_binary(dir.path());
    let http = crate::common::http_client();
    let mut sender = spawn_server(&environment);
    let alice = register(&http, &sender.url, "alice").await;

    let (mut receiver, receiver_port) = TestServer::start_federated().await;
    let bob = receiver.register("bob").await;
    receiver.stop().await;

    let path = "/_matrix/client/v3/sendToDevice/m.test.secret/txn-kill";
    let body = json!({ "messages": { bob.user_id.clone(): {
        bob.device_id.clone(): { "secret": "sent before the crash" },
    } } });
    let answer = http
        .put(format!("{}{path}", sender.url))
        .bearer_auth(&alice.access_token)
        .json(&body)
        .send()
        .await
        .expect("sendToDevice");
    assert_eq!(answer.status(), StatusCode::OK);
    sigkill(&mut sender);

    receiver
        .restart(|config| federated(config, receiver_port))
        .await;
    let mut sender = spawn_server(&environment);
    // The client did not see the answer and retries: the same transaction is not sent again.
    let retried = http
        .put(format!("{}{path}", sender.url))
        .bearer_auth(&alice.access_token)
        .json(&body)
        .send()
        .await
        .expect("sendToDevice again");
    assert_eq!(retried.status(), StatusCode::OK);

    let mut received = Vec::new();
    let mut since: Option<String> = None;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    // Until something arrives, then three more rounds, which would show a duplicate.
    let mut rounds_after = 0;
    while rounds_after < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "nothing arrived within 60 s"
        );
        let sync = receiver.sync(&bob, since.as_deref(), 1000).await;
        received.extend(
            sync["to_device"]["events"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
        since = sync["next_batch"].as_str().map(str::to_owned);
        if !received.is_empty() {
            rounds_after += 1;
        }
    }
    let secrets: Vec<&Value> = received
        .iter()
        .filter(|event| event["type"] == "m.test.secret")
        .map(|event| &event["content"]["secret"])
        .collect();
    assert_eq!(
        secrets,
        vec![&json!("sent before the crash")],
        "the message arrives once: {received:?}"
    );
    assert_eq!(received[0]["sender"], alice.user_id);
    sigkill(&mut sender);
}

/// A local user's presence change is written down with a stream item: killed right after
/// answering `PUT /presence`, while the other server in the room is down, the server still
/// knows the status after the restart and tells that server.
#[tokio::test(flavor = "multi_thread")]
async fn a_presence_change_survives_sigkill_and_reaches_a_server_that_was_down() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (environment, port) = federated_binary(dir.path());
    let http = crate::common::http_client();
    let mut home = spawn_server(&environment);
    let alice = register(&http, &home.url, "alice").await;
    let created: Value = http
        .post(format!("{}/_matrix/client/v3/createRoom", home.url))
        .bearer_auth(&alice.access_token)
        .json(&json!({ "preset": "public_chat" }))
        .send()
        .await
        .expect("createRoom")
        .json()
        .await
        .expect("json");
    let room_id = created["room_id"].as_str().expect("room id").to_owned();
    let (mut other, other_port) = TestServer::start_federated().await;
    let bob = other.register("bob").await;
    let joined = other
        .post(
            &format!("/_matrix/client/v3/join/{room_id}?server_name=localhost:{port}"),
            Some(&bob.access_token),
            json!({}),
        )
        .await;
    assert_eq!(joined.0, StatusCode::OK, "{}", joined.1);
    other.stop().await;

    let presence_path = format!("/_matrix/client/v3/presence/{}/status", alice.user_id);
    let set = http
        .put(format!("{}{presence_path}", home.url))
        .bearer_auth(&alice.access_token)
        .json(&json!({ "presence": "unavailable", "status_msg": "gone fishing" }))
        .send()
        .await
        .expect("set presence");
    assert_eq!(set.status(), StatusCode::OK);
    sigkill(&mut home);

    other.restart(|config| federated(config, other_port)).await;
    let mut home = spawn_server(&environment);
    let status: Value = http
        .get(format!("{}{presence_path}", home.url))
        .bearer_auth(&alice.access_token)
        .send()
        .await
        .expect("get presence")
        .json()
        .await
        .expect("json");
    assert_eq!(status["presence"], "unavailable", "{status}");
    assert_eq!(status["status_msg"], "gone fishing", "{status}");
    other
        .sync_until(&bob, 60, |syncs| {
            syncs.as_array().into_iter().flatten().any(|sync| {
                sync["presence"]["events"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|event| {
                        event["sender"] == alice.user_id
                            && event["content"]["status_msg"] == "gone fishing"
                    })
            })
        })
        .await;
    sigkill(&mut home);
}
