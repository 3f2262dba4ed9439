//! Conformance of notification counts in /sync: threaded receipts and the legacy mention rules.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::TestServer;

/// Per-thread unread counts exactly as Complement's TestThreadedReceipts tabulates them: with
/// `unread_thread_notifications` the main timeline and each thread count apart; threaded
/// receipts clear their thread, `main` receipts the main timeline, unthreaded ones both;
/// reactions never count; empty maps are left out.
#[tokio::test]
async fn threaded_receipts_clear_their_own_counts() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    assert_eq!(server.join(&bob, &room_id).await.0, StatusCode::OK);
    let since = server.sync(&bob, None, 0).await["next_batch"]
        .as_str()
        .expect("next_batch")
        .to_owned();
    let mut txn = 0;
    let mut send = async |kind: &str, content: serde_json::Value| -> String {
        txn += 1;
        let (status, body) = server
            .put(
                &format!("/_matrix/client/v3/rooms/{room_id}/send/{kind}/threaded-{txn}"),
                Some(&alice.access_token),
                content,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["event_id"].as_str().expect("event_id").to_owned()
    };
    let thread = |root: &str| json!({ "rel_type": "m.thread", "event_id": root });
    let a = send(
        "m.room.message",
        json!({ "msgtype": "m.text", "body": "Message 1" }),
    )
    .await;
    let b = send(
        "m.room.message",
        json!({ "msgtype": "m.text", "body": "Message 2", "m.relates_to": thread(&a) }),
    )
    .await;
    send(
        "m.room.message",
        json!({ "msgtype": "m.text", "body": format!("Hello {}", bob.user_id), "m.relates_to": thread(&a) }),
    )
    .await;
    let d = send(
        "m.room.message",
        json!({ "msgtype": "m.text", "body": format!("Hello {}", bob.user_id) }),
    )
    .await;
    send(
        "m.room.message",
        json!({ "msgtype": "m.text", "body": "Message 4", "m.relates_to": thread(&a) }),
    )
    .await;
    let f = send(
        "m.room.message",
        json!({ "msgtype": "m.text", "body": "Message 5", "m.relates_to": { "rel_type": "m.reference", "event_id": a } }),
    )
    .await;
    let g = send(
        "m.reaction",
        json!({ "m.relates_to": { "rel_type": "m.annotation", "event_id": f, "key": "👍" } }),
    )
    .await;
    let threaded = crate::filters::encode(
        &json!({ "room": { "timeline": { "unread_thread_notifications": true } } }),
    );
    // (highlights, notifications) without the filter; main and thread A with it.
    let counts = async |with_filter: bool| -> serde_json::Value {
        let mut path = format!("/_matrix/client/v3/sync?timeout=0&since={since}");
        if with_filter {
            path.push_str(&format!("&filter={threaded}"));
        }
        let (_, sync) = server.get(&path, Some(&bob.access_token)).await;
        sync["rooms"]["join"][&room_id].clone()
    };
    let pair = |counts: &serde_json::Value| {
        (
            counts["highlight_count"].as_u64().expect("highlight_count"),
            counts["notification_count"]
                .as_u64()
                .expect("notification_count"),
        )
    };
    let check = async |plain: (u64, u64), main: (u64, u64), in_thread: Option<(u64, u64)>| {
        let room = counts(false).await;
        assert_eq!(pair(&room["unread_notifications"]), plain, "{room}");
        assert!(room.get("unread_thread_notifications").is_none(), "{room}");
        let room = counts(true).await;
        assert_eq!(pair(&room["unread_notifications"]), main, "{room}");
        match in_thread {
            Some(expected) => assert_eq!(
                pair(&room["unread_thread_notifications"][&a]),
                expected,
                "{room}"
            ),
            None => assert!(room.get("unread_thread_notifications").is_none(), "{room}"),
        }
    };
    let receipt = async |event: &str, body: serde_json::Value| {
        let (status, response) = server
            .post(
                &format!("/_matrix/client/v3/rooms/{room_id}/receipt/m.read/{event}"),
                Some(&bob.access_token),
                body,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{response}");
    };
    check((2, 6), (1, 3), Some((1, 3))).await;
    receipt(&a, json!({ "thread_id": "main" })).await;
    check((2, 5), (1, 2), Some((1, 3))).await;
    receipt(&b, json!({ "thread_id": a })).await;
    check((2, 4), (1, 2), Some((1, 2))).await;
    receipt(&d, json!({})).await;
    check((0, 2), (0, 1), Some((0, 1))).await;
    receipt(&g, json!({ "thread_id": a })).await;
    check((0, 1), (0, 1), None).await;
}

/// The legacy mention rules of spec v1.7–v1.16 (Synapse still has them): a plain-text mention of
/// the user's localpart or display name, or `@room` from someone allowed to notify the room,
/// highlights, unless the event says whom it mentions with `m.mentions` (MSC3952).
#[tokio::test]
async fn legacy_mentions_highlight_unless_the_event_has_m_mentions() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    assert_eq!(server.join(&bob, &room_id).await.0, StatusCode::OK);
    let (_, rules) = server
        .get("/_matrix/client/v3/pushrules/", Some(&bob.access_token))
        .await;
    let ids = |kind: &str| -> Vec<String> {
        rules["global"][kind]
            .as_array()
            .expect("rules")
            .iter()
            .map(|rule| rule["rule_id"].as_str().expect("rule_id").to_owned())
            .collect()
    };
    let overrides = ids("override");
    let at = |id: &str| overrides.iter().position(|rule| rule == id);
    assert!(
        at(".m.rule.contains_display_name") > at(".m.rule.is_user_mention"),
        "{rules}"
    );
    assert!(
        at(".m.rule.roomnotif") > at(".m.rule.is_room_mention"),
        "{rules}"
    );
    let content = &rules["global"]["content"];
    assert!(
        content
            .as_array()
            .expect("content")
            .iter()
            .any(|rule| rule["rule_id"] == ".m.rule.contains_user_name" && rule["pattern"] == "bob"),
        "{rules}"
    );

    let highlights = async || -> u64 {
        let sync = server.sync(&bob, None, 0).await;
        sync["rooms"]["join"][&room_id]["unread_notifications"]["highlight_count"]
            .as_u64()
            .expect("highlight_count")
    };
    let mut txn = 0;
    let mut send = async |content: serde_json::Value| {
        txn += 1;
        let (status, body) = server
            .put(
                &format!("/_matrix/client/v3/rooms/{room_id}/send/m.room.message/legacy-{txn}"),
                Some(&alice.access_token),
                content,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    };
    send(json!({ "msgtype": "m.text", "body": "are you there, bob?" })).await;
    assert_eq!(highlights().await, 1);
    send(json!({ "msgtype": "m.text", "body": "@room lunch" })).await;
    assert_eq!(highlights().await, 2);
    // With `m.mentions`, only what it names counts.
    send(json!({ "msgtype": "m.text", "body": "bob and @room", "m.mentions": {} })).await;
    assert_eq!(highlights().await, 2);
}
