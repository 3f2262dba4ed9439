//! Conformance of what a reader is given of a room: search across upgrades, lazy-loaded /messages,
//! room initialSync.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{TestServer, assert_error};

/// Searching an upgraded room searches its predecessor too [Complement TestSearch].
#[tokio::test]
async fn search_in_an_upgraded_room_covers_its_predecessor() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let room_id = server.create_room(&alice, json!({})).await;
    server
        .send_text(&alice, &room_id, "needle in the old room")
        .await;
    let (status, upgraded) = server
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/upgrade"),
            Some(&alice.access_token),
            json!({ "new_version": "12" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{upgraded}");
    let new_room = upgraded["replacement_room"].as_str().expect("replacement");
    server
        .send_text(&alice, new_room, "needle in the new room")
        .await;
    let (status, found) = server
        .post(
            "/_matrix/client/v3/search",
            Some(&alice.access_token),
            json!({ "search_categories": { "room_events": {
                "search_term": "needle", "filter": { "rooms": [new_room] }
            } } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    let results = &found["search_categories"]["room_events"];
    assert_eq!(results["count"], 2, "{found}");
}

/// Lazy-loading `/messages` names each sender of the page once, with the member event as of
/// the page, and nobody else (not the reader, unless they sent something)
/// [Complement TestRoomMessagesLazyLoading, TestRoomMessagesLazyLoadingLocalUser].
#[tokio::test]
async fn lazy_loading_messages_names_each_sender_once() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let charlie = server.register("charlie").await;
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    assert_eq!(server.join(&bob, &room_id).await.0, StatusCode::OK);
    assert_eq!(server.join(&charlie, &room_id).await.0, StatusCode::OK);
    server.send_text(&bob, &room_id, "from bob").await;
    let before = server.sync(&alice, None, 0).await["next_batch"]
        .as_str()
        .expect("next_batch")
        .to_owned();
    server.send_text(&charlie, &room_id, "from charlie").await;
    let after = server.sync(&alice, Some(&before), 0).await["next_batch"]
        .as_str()
        .expect("next_batch")
        .to_owned();
    let lazy = crate::filters::encode(&json!({ "lazy_load_members": true }));
    let (status, page) = server
        .get(
            &format!(
                "/_matrix/client/v3/rooms/{room_id}/messages?dir=f&from={before}&to={after}&filter={lazy}"
            ),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(
        crate::common::message_bodies(&page["chunk"]),
        ["from charlie"],
        "{page}"
    );
    let members = page["state"].as_array().expect("state");
    assert_eq!(members.len(), 1, "only the page's sender: {page}");
    assert_eq!(members[0]["type"], "m.room.member");
    assert_eq!(members[0]["state_key"], charlie.user_id.as_str());
    assert_eq!(members[0]["content"]["membership"], "join");

    // Many events of one sender: one member event.
    let own_room = server.create_room(&alice, json!({})).await;
    for text in ["one", "two", "three"] {
        server.send_text(&alice, &own_room, text).await;
    }
    let (_, page) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{own_room}/messages?dir=b&filter={lazy}"),
            Some(&alice.access_token),
        )
        .await;
    let members = page["state"].as_array().expect("state");
    assert_eq!(members.len(), 1, "{page}");
    assert_eq!(members[0]["state_key"], alice.user_id.as_str());
    assert_eq!(members[0]["content"]["membership"], "join");
    // A page with no events carries no `state`.
    let now = server.sync(&alice, None, 0).await["next_batch"]
        .as_str()
        .expect("next_batch")
        .to_owned();
    let (_, empty) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{own_room}/messages?dir=f&from={now}&filter={lazy}"),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(empty["chunk"], json!([]), "{empty}");
    assert!(empty.get("state").is_none(), "{empty}");
}

/// `GET /rooms/{id}/initialSync` (used for peeking since spec v1.14): members get the current
/// state and the last events oldest first with tokens `/messages` continues from; a user who
/// left gets the room as of leaving; a world-readable room can be peeked into without
/// `membership`; other rooms are 403.
#[tokio::test]
async fn room_initial_sync_serves_members_leavers_and_peekers() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let eve = server.register("eve").await;
    let room_id = server
        .create_room(
            &alice,
            json!({ "preset": "public_chat", "name": "Peek here", "initial_state": [
                { "type": "m.room.history_visibility", "state_key": "", "content": { "history_visibility": "world_readable" } }
            ] }),
        )
        .await;
    assert_eq!(server.join(&bob, &room_id).await.0, StatusCode::OK);
    for index in 0..12 {
        server
            .send_text(&alice, &room_id, &format!("message {index}"))
            .await;
    }
    let tag_path = format!(
        "/_matrix/client/v3/user/{}/rooms/{room_id}/tags/u.work",
        alice.user_id
    );
    assert_eq!(
        server
            .put(
                &tag_path,
                Some(&alice.access_token),
                json!({ "order": 0.5 })
            )
            .await
            .0,
        StatusCode::OK
    );
    let path = format!("/_matrix/client/v3/rooms/{room_id}/initialSync");

    let (status, member) = server.get(&path, Some(&alice.access_token)).await;
    assert_eq!(status, StatusCode::OK, "{member}");
    assert_eq!(member["room_id"], room_id.as_str());
    assert_eq!(member["membership"], "join");
    let bodies = crate::common::message_bodies(&member["messages"]["chunk"]);
    let expected: Vec<String> = (2..12).map(|index| format!("message {index}")).collect();
    assert_eq!(bodies, expected, "the last ten, oldest first: {member}");
    let name = member["state"]
        .as_array()
        .expect("state")
        .iter()
        .find(|event| event["type"] == "m.room.name")
        .expect("the name is state");
    assert_eq!(name["content"]["name"], "Peek here");
    assert!(
        member["account_data"]
            .as_array()
            .expect("account_data")
            .iter()
            .any(|event| event["type"] == "m.tag" && event["content"]["tags"]["u.work"].is_object()),
        "{member}"
    );
    assert_eq!(member["visibility"], "private");
    // `start` continues backwards where the chunk ends.
    let start = member["messages"]["start"].as_str().expect("start");
    let (_, earlier) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&from={start}&limit=2"),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(
        crate::common::message_bodies(&earlier["chunk"]),
        ["message 1", "message 0"],
        "{earlier}"
    );

    // Bob leaves; later messages are not his to read.
    assert_eq!(
        server
            .post(
                &format!("/_matrix/client/v3/rooms/{room_id}/leave"),
                Some(&bob.access_token),
                json!({})
            )
            .await
            .0,
        StatusCode::OK
    );
    server.send_text(&alice, &room_id, "after bob left").await;
    let (status, left) = server.get(&path, Some(&bob.access_token)).await;
    assert_eq!(status, StatusCode::OK, "{left}");
    assert_eq!(left["membership"], "leave");
    let chunk = left["messages"]["chunk"].as_array().expect("chunk");
    assert_eq!(
        chunk.last().expect("events")["content"]["membership"],
        "leave"
    );
    assert!(
        !crate::common::message_bodies(&left["messages"]["chunk"])
            .contains(&"after bob left".to_owned()),
        "{left}"
    );
    assert_eq!(left["presence"], json!([]));
    let bob_member = left["state"]
        .as_array()
        .expect("state")
        .iter()
        .find(|event| {
            event["type"] == "m.room.member" && event["state_key"] == bob.user_id.as_str()
        })
        .expect("bob's membership");
    assert_eq!(bob_member["content"]["membership"], "leave");

    // Eve was never in the room: she peeks, and has no membership.
    let (status, peek) = server.get(&path, Some(&eve.access_token)).await;
    assert_eq!(status, StatusCode::OK, "{peek}");
    assert!(peek.get("membership").is_none(), "{peek}");
    assert_eq!(
        crate::common::message_bodies(&peek["messages"]["chunk"])
            .last()
            .map(String::as_str),
        Some("after bob left")
    );

    // A private room is closed to her.
    let private = server.create_room(&alice, json!({})).await;
    assert_error(
        &server
            .get(
                &format!("/_matrix/client/v3/rooms/{private}/initialSync"),
                Some(&eve.access_token),
            )
            .await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
}
