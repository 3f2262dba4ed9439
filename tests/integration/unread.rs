//! Unread notification and highlight counts from the default push rules, reset by receipts.

use serde_json::{Value, json};

use crate::common::TestServer;

fn counts(sync: &Value, room: &str) -> (u64, u64) {
    let unread = &sync["rooms"]["join"][room]["unread_notifications"];
    (
        unread["notification_count"]
            .as_u64()
            .expect("notification_count"),
        unread["highlight_count"].as_u64().expect("highlight_count"),
    )
}

#[tokio::test]
async fn messages_count_mentions_highlight_and_receipts_reset() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    server.join(&bob, &room).await;
    server.send_text(&alice, &room, "one").await;
    let second = server.send_text(&alice, &room, "two").await;
    server.send_text(&alice, &room, "three").await;
    let mention = json!({ "msgtype": "m.text", "body": "bob: look", "m.mentions": { "user_ids": [bob.user_id] } });
    let (_, mentioned) = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/mention"),
            Some(&alice.access_token),
            mention,
        )
        .await;
    let mentioned = mentioned["event_id"].as_str().expect("event id").to_owned();
    server
        .send_text(&bob, &room, "own messages never count")
        .await;

    let sync = server.sync(&bob, None, 0).await;
    assert_eq!(counts(&sync, &room), (4, 1));
    assert_eq!(
        counts(&server.sync(&alice, None, 0).await, &room),
        (1, 0),
        "alice has bob's one message unread"
    );

    let since = sync["next_batch"].as_str().expect("token").to_owned();
    server
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/receipt/m.read/{second}"),
            Some(&bob.access_token),
            json!({}),
        )
        .await;
    let after_receipt = server.sync(&bob, Some(&since), 5_000).await;
    assert_eq!(
        counts(&after_receipt, &room),
        (2, 1),
        "a receipt marks everything up to its event as read"
    );
    let since = after_receipt["next_batch"]
        .as_str()
        .expect("token")
        .to_owned();
    server
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/receipt/m.read.private/{mentioned}"),
            Some(&bob.access_token),
            json!({}),
        )
        .await;
    let all_read = server.sync(&bob, Some(&since), 5_000).await;
    assert_eq!(
        counts(&all_read, &room),
        (0, 0),
        "private receipts count for the reader too"
    );
}

#[tokio::test]
async fn thread_counts_are_separate_when_asked_for() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    server.join(&bob, &room).await;
    let root = server.send_text(&alice, &room, "root").await;
    let reply = json!({ "msgtype": "m.text", "body": "in thread", "m.relates_to": { "rel_type": "m.thread", "event_id": root } });
    server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/thread1"),
            Some(&alice.access_token),
            reply,
        )
        .await;

    let filter =
        "%7B%22room%22%3A%7B%22timeline%22%3A%7B%22unread_thread_notifications%22%3Atrue%7D%7D%7D";
    let (_, sync) = server
        .get(
            &format!("/_matrix/client/v3/sync?filter={filter}"),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(counts(&sync, &room), (1, 0), "main timeline: the root");
    let thread = &sync["rooms"]["join"][&room]["unread_thread_notifications"][&root];
    assert_eq!(
        (
            thread["notification_count"].as_u64(),
            thread["highlight_count"].as_u64()
        ),
        (Some(1), Some(0))
    );
    assert_eq!(
        counts(&server.sync(&bob, None, 0).await, &room),
        (2, 0),
        "without the filter, all together"
    );
}
