//! Edits, reactions, replies and threads.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestServer, TestUser, assert_error};

async fn send(
    server: &TestServer,
    user: &TestUser,
    room: &str,
    kind: &str,
    txn: &str,
    content: Value,
) -> String {
    let (status, response) = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/send/{kind}/{txn}"),
            Some(&user.access_token),
            content,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{response}");
    response["event_id"].as_str().expect("event id").to_owned()
}

#[tokio::test]
async fn the_latest_edit_is_bundled_and_only_the_author_may_edit() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    server.join(&bob, &room).await;
    let original = server.send_text(&alice, &room, "helo").await;
    for (txn, text) in [("e1", "hello"), ("e2", "hello!")] {
        let edit = json!({ "msgtype": "m.text", "body": format!("* {text}"), "m.new_content": { "msgtype": "m.text", "body": text }, "m.relates_to": { "rel_type": "m.replace", "event_id": original } });
        send(&server, &alice, &room, "m.room.message", txn, edit).await;
    }
    let impostor = json!({ "msgtype": "m.text", "body": "* hacked", "m.new_content": { "msgtype": "m.text", "body": "hacked" }, "m.relates_to": { "rel_type": "m.replace", "event_id": original } });
    send(&server, &bob, &room, "m.room.message", "e3", impostor).await;

    let (_, event) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/event/{original}"),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(
        event["content"]["body"], "helo",
        "the original content is kept"
    );
    assert_eq!(
        event["unsigned"]["m.relations"]["m.replace"]["content"]["m.new_content"]["body"], "hello!",
        "latest edit by the author: {event}"
    );

    let sync = server.sync(&bob, None, 0).await;
    let synced = sync["rooms"]["join"][&room]["timeline"]["events"]
        .as_array()
        .expect("timeline")
        .iter()
        .find(|event| event["event_id"] == original.as_str())
        .cloned()
        .expect("original in sync");
    assert_eq!(
        synced["unsigned"]["m.relations"]["m.replace"]["content"]["m.new_content"]["body"],
        "hello!"
    );
}

#[tokio::test]
async fn reactions_are_listed_by_relation_and_not_duplicated() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    server.join(&bob, &room).await;
    let message = server.send_text(&alice, &room, "react to me").await;
    let reaction = |key: &str| json!({ "m.relates_to": { "rel_type": "m.annotation", "event_id": message, "key": key } });
    send(&server, &bob, &room, "m.reaction", "r1", reaction("👍")).await;
    send(&server, &alice, &room, "m.reaction", "r2", reaction("👍")).await;
    send(&server, &bob, &room, "m.reaction", "r3", reaction("🎉")).await;
    let duplicate = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/send/m.reaction/r4"),
            Some(&bob.access_token),
            reaction("👍"),
        )
        .await;
    assert_error(
        &duplicate,
        StatusCode::BAD_REQUEST,
        "M_DUPLICATE_ANNOTATION",
    );
    let reply = json!({ "msgtype": "m.text", "body": "> react to me\n\nok", "m.relates_to": { "m.in_reply_to": { "event_id": message } } });
    let reply_id = send(&server, &bob, &room, "m.room.message", "reply", reply).await;

    let (status, all) = server
        .get(
            &format!("/_matrix/client/v1/rooms/{room}/relations/{message}/m.annotation/m.reaction"),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let keys: Vec<(String, String)> = all["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .map(|event| {
            (
                event["sender"].as_str().unwrap_or_default().to_owned(),
                event["content"]["m.relates_to"]["key"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        [
            (bob.user_id.clone(), "🎉".to_owned()),
            (alice.user_id.clone(), "👍".to_owned()),
            (bob.user_id.clone(), "👍".to_owned())
        ],
        "newest first"
    );

    let (_, page) = server
        .get(
            &format!("/_matrix/client/v1/rooms/{room}/relations/{message}?limit=2"),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(page["chunk"].as_array().expect("chunk").len(), 2);
    let next = page["next_batch"].as_str().expect("next_batch");
    let (_, rest) = server
        .get(
            &format!("/_matrix/client/v1/rooms/{room}/relations/{message}?limit=2&from={next}"),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(rest["chunk"].as_array().expect("chunk").len(), 1);
    assert!(rest.get("next_batch").is_none());

    let (_, replied) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/event/{reply_id}"),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(
        replied["content"]["m.relates_to"]["m.in_reply_to"]["event_id"],
        message.as_str()
    );
    let carol = server.register("carol").await;
    assert_error(
        &server
            .get(
                &format!("/_matrix/client/v1/rooms/{room}/relations/{message}"),
                Some(&carol.access_token),
            )
            .await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
}

#[tokio::test]
async fn threads_are_summarised_and_listed() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    server.join(&bob, &room).await;
    let root_a = server.send_text(&alice, &room, "thread A").await;
    let root_b = server.send_text(&alice, &room, "thread B").await;
    let in_thread = |root: &str, text: &str| json!({ "msgtype": "m.text", "body": text, "m.relates_to": { "rel_type": "m.thread", "event_id": root, "is_falling_back": true, "m.in_reply_to": { "event_id": root } } });
    send(
        &server,
        &bob,
        &room,
        "m.room.message",
        "t1",
        in_thread(&root_a, "a1"),
    )
    .await;
    send(
        &server,
        &alice,
        &room,
        "m.room.message",
        "t2",
        in_thread(&root_b, "b1"),
    )
    .await;
    let latest = send(
        &server,
        &alice,
        &room,
        "m.room.message",
        "t3",
        in_thread(&root_a, "a2"),
    )
    .await;

    let (_, root) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/event/{root_a}"),
            Some(&bob.access_token),
        )
        .await;
    let summary = &root["unsigned"]["m.relations"]["m.thread"];
    assert_eq!(summary["count"], 2);
    assert_eq!(summary["latest_event"]["event_id"], latest.as_str());
    assert_eq!(summary["current_user_participated"], true);

    let (status, threads) = server
        .get(
            &format!("/_matrix/client/v1/rooms/{room}/threads"),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let roots: Vec<&str> = threads["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .filter_map(|event| event["event_id"].as_str())
        .collect();
    assert_eq!(
        roots,
        [root_a.as_str(), root_b.as_str()],
        "most recent activity first"
    );
    let (_, mine) = server
        .get(
            &format!("/_matrix/client/v1/rooms/{room}/threads?include=participated"),
            Some(&bob.access_token),
        )
        .await;
    let mine: Vec<&str> = mine["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .filter_map(|event| event["event_id"].as_str())
        .collect();
    assert_eq!(mine, [root_a.as_str()], "bob only took part in thread A");
    let (_, replies) = server
        .get(
            &format!("/_matrix/client/v1/rooms/{room}/relations/{root_a}/m.thread?dir=f"),
            Some(&bob.access_token),
        )
        .await;
    let bodies: Vec<&str> = replies["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .filter_map(|event| event["content"]["body"].as_str())
        .collect();
    assert_eq!(bodies, ["a1", "a2"]);
}
