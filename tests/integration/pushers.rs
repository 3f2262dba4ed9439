//! Pushers and push delivery: a push gateway stub on loopback receives the notification of a
//! mention with the right event, counts and tweaks; a failing gateway is retried; a rejected
//! pushkey removes its pusher; `GET /notifications` lists what notified; bad pushers refused.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Json, Router, extract::State, http::StatusCode as AxumStatus, routing::post};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestServer, TestUser, assert_error};

/// What the stub gateway answers next (the default after the scripted ones: accept).
#[derive(Clone, Copy)]
enum Answer {
    Accept,
    Fail,
    Reject,
}

#[derive(Clone, Default)]
struct Gateway {
    received: Arc<Mutex<Vec<Value>>>,
    script: Arc<Mutex<VecDeque<Answer>>>,
}

async fn notify(
    State(gateway): State<Gateway>,
    Json(body): Json<Value>,
) -> (AxumStatus, Json<Value>) {
    let answer = gateway
        .script
        .lock()
        .expect("lock")
        .pop_front()
        .unwrap_or(Answer::Accept);
    gateway.received.lock().expect("lock").push(body.clone());
    match answer {
        Answer::Accept => (AxumStatus::OK, Json(json!({ "rejected": [] }))),
        Answer::Fail => (AxumStatus::INTERNAL_SERVER_ERROR, Json(json!({}))),
        Answer::Reject => {
            let pushkey = body["notification"]["devices"][0]["pushkey"].clone();
            (AxumStatus::OK, Json(json!({ "rejected": [pushkey] })))
        }
    }
}

impl Gateway {
    /// Serves the stub on loopback; returns its notify URL.
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let app = Router::new()
            .route("/_matrix/push/v1/notify", post(notify))
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{address}/_matrix/push/v1/notify")
    }

    /// Waits until `count` requests arrived; returns them all.
    async fn wait_for(&self, count: usize) -> Vec<Value> {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            let received = self.received.lock().expect("lock").clone();
            if received.len() >= count {
                return received;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{} of {count} notifications arrived: {received:?}",
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn set_pusher(
    server: &TestServer,
    user: &TestUser,
    url: &str,
    pushkey: &str,
) -> (StatusCode, Value) {
    server
        .post(
            "/_matrix/client/v3/pushers/set",
            Some(&user.access_token),
            json!({
                "kind": "http",
                "app_id": "org.example.app",
                "pushkey": pushkey,
                "app_display_name": "Example",
                "device_display_name": "Phone",
                "lang": "en",
                "data": { "url": url, "custom": "kept" },
            }),
        )
        .await
}

async fn pushers(server: &TestServer, user: &TestUser) -> Value {
    let (status, body) = server
        .get("/_matrix/client/v3/pushers", Some(&user.access_token))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["pushers"].clone()
}

/// A server allowed to reach the loopback gateway (the default outbound policy refuses it).
async fn server_reaching_loopback() -> TestServer {
    TestServer::start_with(|config| {
        config.federation.ip_range_allowlist = vec!["127.0.0.0/8".into()];
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mention_reaches_the_push_gateway_with_counts_and_tweaks() {
    let gateway = Gateway::default();
    let url = gateway.start().await;
    let server = server_reaching_loopback().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat", "name": "Lounge" }))
        .await;
    assert_eq!(server.join(&bob, &room_id).await.0, StatusCode::OK);
    let (status, body) = set_pusher(&server, &bob, &url, "bobkey").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let listed = pushers(&server, &bob).await;
    assert_eq!(listed[0]["pushkey"], "bobkey", "{listed}");
    assert_eq!(listed[0]["data"]["url"], json!(url));

    let (status, sent) = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room_id}/send/m.room.message/m1"),
            Some(&alice.access_token),
            json!({ "msgtype": "m.text", "body": "bob: are you there?", "m.mentions": { "user_ids": [bob.user_id] } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    let event_id = sent["event_id"].as_str().expect("event id");

    let received = gateway.wait_for(1).await;
    let notification = &received[0]["notification"];
    assert_eq!(notification["event_id"], event_id, "{notification}");
    assert_eq!(notification["room_id"], json!(room_id));
    assert_eq!(notification["sender"], json!(alice.user_id));
    assert_eq!(notification["room_name"], "Lounge");
    assert_eq!(notification["content"]["body"], "bob: are you there?");
    assert_eq!(notification["counts"]["unread"], 1, "{notification}");
    assert_eq!(notification["prio"], "high");
    let device = &notification["devices"][0];
    assert_eq!(device["pushkey"], "bobkey");
    assert_eq!(device["app_id"], "org.example.app");
    assert_eq!(device["tweaks"]["highlight"], true, "{device}");
    assert_eq!(
        device["data"],
        json!({ "custom": "kept" }),
        "the URL is not sent"
    );

    // Alice's own message did not push to Alice (she has no pusher) nor Bob twice.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(gateway.received.lock().expect("lock").len(), 1);

    let (status, listed) = server
        .get("/_matrix/client/v3/notifications", Some(&bob.access_token))
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let first = &listed["notifications"][0];
    assert_eq!(first["event"]["event_id"], event_id, "{listed}");
    assert_eq!(first["room_id"], json!(room_id));
    assert_eq!(first["read"], false);
    assert!(
        first["actions"].as_array().is_some_and(|actions| actions
            .contains(&json!({ "set_tweak": "highlight" }))
            || actions.contains(&json!({ "set_tweak": "highlight", "value": true }))),
        "{first}"
    );
    let (_, highlights) = server
        .get(
            "/_matrix/client/v3/notifications?only=highlight&limit=5",
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(
        highlights["notifications"].as_array().map(Vec::len),
        Some(1)
    );

    // Once read, the notification says so.
    let (status, _) = server
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/receipt/m.read/{event_id}"),
            Some(&bob.access_token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, listed) = server
        .get("/_matrix/client/v3/notifications", Some(&bob.access_token))
        .await;
    assert_eq!(listed["notifications"][0]["read"], true, "{listed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_gateways_are_retried_and_rejected_pushkeys_removed() {
    let gateway = Gateway::default();
    gateway
        .script
        .lock()
        .expect("lock")
        .extend([Answer::Fail, Answer::Accept, Answer::Reject]);
    let url = gateway.start().await;
    let server = server_reaching_loopback().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room_id = server
        .create_room(
            &alice,
            json!({ "is_direct": true, "invite": [bob.user_id] }),
        )
        .await;
    assert_eq!(server.join(&bob, &room_id).await.0, StatusCode::OK);
    assert_eq!(
        set_pusher(&server, &bob, &url, "bobkey").await.0,
        StatusCode::OK
    );

    // In a one-to-one room every message notifies. The first attempt fails, the retry lands.
    let first = server.send_text(&alice, &room_id, "one").await;
    let received = gateway.wait_for(2).await;
    assert_eq!(received[0]["notification"]["event_id"], json!(first));
    assert_eq!(
        received[1]["notification"]["event_id"],
        json!(first),
        "retried"
    );

    // The gateway rejects the pushkey on the next one: the pusher goes.
    server.send_text(&alice, &room_id, "two").await;
    gateway.wait_for(3).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while pushers(&server, &bob).await != json!([]) {
        assert!(std::time::Instant::now() < deadline, "the pusher stayed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.send_text(&alice, &room_id, "three").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        gateway.received.lock().expect("lock").len(),
        3,
        "nothing goes to a removed pusher"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_pushers_are_refused_and_deleted_ones_go() {
    let server = TestServer::start().await;
    let bob = server.register("bob").await;
    let wrong_path = set_pusher(&server, &bob, "https://push.example/notify", "k").await;
    assert_error(&wrong_path, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
    let email = server
        .post(
            "/_matrix/client/v3/pushers/set",
            Some(&bob.access_token),
            json!({ "kind": "email", "app_id": "m.email", "pushkey": "bob@example.org",
                    "app_display_name": "Email", "device_display_name": "Email", "lang": "en", "data": {} }),
        )
        .await;
    assert_error(&email, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
    let no_data = server
        .post(
            "/_matrix/client/v3/pushers/set",
            Some(&bob.access_token),
            json!({ "kind": "http", "app_id": "a", "pushkey": "k", "app_display_name": "A",
                    "device_display_name": "D", "lang": "en" }),
        )
        .await;
    assert_eq!(no_data.0, StatusCode::BAD_REQUEST, "{}", no_data.1);
    assert_eq!(pushers(&server, &bob).await, json!([]));

    let url = "https://push.example/_matrix/push/v1/notify";
    assert_eq!(set_pusher(&server, &bob, url, "k1").await.0, StatusCode::OK);
    // The same pushkey registered by another user moves to them (append is false).
    let carol = server.register("carol").await;
    assert_eq!(
        set_pusher(&server, &carol, url, "k1").await.0,
        StatusCode::OK
    );
    assert_eq!(pushers(&server, &bob).await, json!([]));
    assert_eq!(pushers(&server, &carol).await[0]["pushkey"], "k1");
    // kind null deletes.
    let (status, _) = server
        .post(
            "/_matrix/client/v3/pushers/set",
            Some(&carol.access_token),
            json!({ "kind": null, "app_id": "org.example.app", "pushkey": "k1" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(pushers(&server, &carol).await, json!([]));

    // A gateway on loopback is refused by the default outbound policy (SSRF): nothing arrives.
    let gateway = Gateway::default();
    let loopback = gateway.start().await;
    let alice = server.register("alice").await;
    let room_id = server
        .create_room(
            &alice,
            json!({ "is_direct": true, "invite": [bob.user_id] }),
        )
        .await;
    assert_eq!(server.join(&bob, &room_id).await.0, StatusCode::OK);
    assert_eq!(
        set_pusher(&server, &bob, &loopback, "k2").await.0,
        StatusCode::OK
    );
    server.send_text(&alice, &room_id, "hello").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, metrics) = server.get("/_myelin/metrics", None).await;
        let metrics = metrics.as_str().unwrap_or_default().to_owned();
        if metrics.contains("myelin_push_requests_total{result=\"failed\"} 1") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no refused push: {metrics}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gateway.received.lock().expect("lock").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_push_under_way_survives_a_restart() {
    let gateway = Gateway::default();
    gateway
        .script
        .lock()
        .expect("lock")
        .extend([Answer::Fail, Answer::Fail]);
    let url = gateway.start().await;
    let mut server = server_reaching_loopback().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room_id = server
        .create_room(
            &alice,
            json!({ "is_direct": true, "invite": [bob.user_id] }),
        )
        .await;
    assert_eq!(server.join(&bob, &room_id).await.0, StatusCode::OK);
    assert_eq!(
        set_pusher(&server, &bob, &url, "bobkey").await.0,
        StatusCode::OK
    );
    let sent = server
        .send_text(&alice, &room_id, "while the gateway is down")
        .await;
    gateway.wait_for(1).await;
    // Stopped while the delivery is being retried: it is still owed after the restart.
    server
        .restart(|config| config.federation.ip_range_allowlist = vec!["127.0.0.0/8".into()])
        .await;
    let received = gateway.wait_for(3).await;
    assert!(
        received
            .iter()
            .all(|request| request["notification"]["event_id"] == json!(sent)),
        "{received:?}"
    );
    // Delivered: nothing more arrives.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(gateway.received.lock().expect("lock").len(), 3);
}
