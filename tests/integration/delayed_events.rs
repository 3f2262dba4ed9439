//! Delayed events (MSC4140): sent when due, cancelled by a newer state event, restarted and sent
//! now, limited.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::TestServer;

/// Delayed events (MSC4140), as Element Call uses them to end a crashed client's call
/// membership: a delayed state event is answered with a delay id and appears after its delay,
/// not before; it is listed, restarted, sent at once or cancelled; a newer state event of the
/// same type and key from the same user cancels it; delays and counts are limited.
#[tokio::test]
async fn delayed_events_are_sent_when_due_unless_replaced() {
    let server = TestServer::start_with(|config| {
        config.rooms.max_event_delay_secs = 60;
        config.rooms.max_delayed_events_per_user = 4;
    })
    .await;
    let alice = server.register("alice").await;
    let room_id = server.create_room(&alice, json!({})).await;
    let state_path = |key: &str| {
        format!("/_matrix/client/v3/rooms/{room_id}/state/org.example.call.member/{key}")
    };
    let schedule = async |key: &str, delay: u64| -> String {
        let (status, body) = server
            .put(
                &format!("{}?org.matrix.msc4140.delay={delay}", state_path(key)),
                Some(&alice.access_token),
                json!({ "key": key }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.get("event_id").is_none(), "{body}");
        body["delay_id"].as_str().expect("delay_id").to_owned()
    };
    let present = async |key: &str| -> bool {
        server
            .get(&state_path(key), Some(&alice.access_token))
            .await
            .0
            == StatusCode::OK
    };
    let wait_until = async |key: &str, seconds: u64| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
        while !present(key).await {
            assert!(std::time::Instant::now() < deadline, "{key} was never sent");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };
    let delayed = "/_matrix/client/unstable/org.matrix.msc4140/delayed_events";

    // Sent after its delay, not before.
    let first = schedule("timer", 1500).await;
    assert!(!present("timer").await);
    let (_, listed) = server.get(delayed, Some(&alice.access_token)).await;
    let entry = &listed["delayed_events"][0];
    assert_eq!(entry["delay_id"], first.as_str(), "{listed}");
    assert_eq!(entry["type"], "org.example.call.member");
    assert_eq!(entry["state_key"], "timer");
    assert_eq!(entry["delay"], 1500);
    wait_until("timer", 10).await;
    let (_, listed) = server.get(delayed, Some(&alice.access_token)).await;
    assert_eq!(listed["delayed_events"], json!([]), "{listed}");

    // Restarted: later than first planned.
    let restarted = schedule("restarted", 1500).await;
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    let (status, body) = server
        .post(
            &format!("{delayed}/{restarted}"),
            Some(&alice.access_token),
            json!({ "action": "restart" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    tokio::time::sleep(std::time::Duration::from_millis(900)).await;
    assert!(
        !present("restarted").await,
        "sent before the restarted timer ran out"
    );
    wait_until("restarted", 10).await;

    // Sent at once; cancelled; replaced by a newer state event.
    let now = schedule("now", 60_000).await;
    let (status, _) = server
        .post(
            &format!("{delayed}/{now}/send"),
            Some(&alice.access_token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(present("now").await);
    let cancelled = schedule("cancelled", 1000).await;
    let (status, _) = server
        .post(
            &format!("{delayed}/{cancelled}/cancel"),
            Some(&alice.access_token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    schedule("replaced", 1000).await;
    let (status, _) = server
        .put(
            &state_path("replaced"),
            Some(&alice.access_token),
            json!({ "by": "hand" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(1800)).await;
    assert!(!present("cancelled").await);
    let (_, replaced) = server
        .get(&state_path("replaced"), Some(&alice.access_token))
        .await;
    assert_eq!(
        replaced,
        json!({ "by": "hand" }),
        "the delayed event was cancelled"
    );

    // A delayed message too, and the limits.
    let (status, body) = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room_id}/send/m.room.message/d1?org.matrix.msc4140.delay=100"),
            Some(&alice.access_token),
            json!({ "msgtype": "m.text", "body": "later" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, page) = server
            .get(
                &format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b"),
                Some(&alice.access_token),
            )
            .await;
        if crate::common::message_bodies(&page["chunk"]).contains(&"later".to_owned()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the delayed message was never sent"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (status, body) = server
        .put(
            &format!("{}?org.matrix.msc4140.delay=61000", state_path("too_far")),
            Some(&alice.access_token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errcode"], "M_MAX_DELAY_EXCEEDED");
    for index in 0..4 {
        schedule(&format!("many{index}"), 60_000).await;
    }
    let (status, body) = server
        .put(
            &format!(
                "{}?org.matrix.msc4140.delay=1000",
                state_path("one_too_many")
            ),
            Some(&alice.access_token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // Another user's delayed event is not theirs to touch.
    let bob = server.register("bob").await;
    let (_, listed) = server.get(delayed, Some(&alice.access_token)).await;
    let some = listed["delayed_events"][0]["delay_id"]
        .as_str()
        .expect("delay_id")
        .to_owned();
    let (status, _) = server
        .post(
            &format!("{delayed}/{some}/cancel"),
            Some(&bob.access_token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
