//! Reading rooms as the spec and Synapse have it: what a user may see, `/messages`, `/context`,
//! relations, search (Complement's `tests/csapi`).

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{TestServer, assert_error};

/// What a user may not see stays unrevealed: history of a room that does not exist is 403, like
/// a room one is not in [Complement TestFetchMessagesFromNonExistentRoom]; an event one may not
/// see is 404 [TestFetchEventNonWorldReadable].
#[tokio::test]
async fn unseen_rooms_are_403_and_unseen_events_404() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let own = server.server_name();
    assert_error(
        &server
            .get(
                &format!("/_matrix/client/v3/rooms/!nonexistent:{own}/messages?dir=b"),
                Some(&alice.access_token),
            )
            .await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    let room_id = server
        .create_room(
            &alice,
            json!({ "preset": "private_chat", "initial_state": [{
                "type": "m.room.history_visibility", "state_key": "",
                "content": { "history_visibility": "shared" }
            }] }),
        )
        .await;
    let event_id = server.send_text(&alice, &room_id, "private").await;
    assert_error(
        &server
            .get(
                &format!("/_matrix/client/v3/rooms/{room_id}/event/{event_id}"),
                Some(&bob.access_token),
            )
            .await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
    let (status, event) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/event/{event_id}"),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(event["content"]["body"], "private");
}

/// A transaction id is scoped to the device and the request path [Complement TestTxnIdempotency].
#[tokio::test]
async fn transaction_ids_are_scoped_to_the_request_path() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let first_room = server.create_room(&alice, json!({})).await;
    let second_room = server.create_room(&alice, json!({})).await;
    let token = Some(alice.access_token.as_str());
    let send = |room: &str, body: &str| {
        (
            format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/txn1"),
            json!({ "msgtype": "m.text", "body": body }),
        )
    };
    let (path, body) = send(&first_room, "first");
    let (_, first) = server.put(&path, token, body).await;
    let (path, body) = send(&second_room, "second");
    let (_, second) = server.put(&path, token, body).await;
    assert_ne!(
        first["event_id"], second["event_id"],
        "another room, another event"
    );
    // The same path again, even with other content, is the first request again.
    let (path, body) = send(&first_room, "other content");
    let (_, again) = server.put(&path, token, body).await;
    assert_eq!(again["event_id"], first["event_id"]);
    let (_, page) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{second_room}/messages?dir=b"),
            token,
        )
        .await;
    assert!(crate::common::message_bodies(&page["chunk"]).contains(&"second".to_owned()));
}

/// A redacted reaction is no longer a relation: it leaves `/relations` [Complement TestRelations].
#[tokio::test]
async fn redacted_reactions_leave_the_relations() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let room_id = server.create_room(&alice, json!({})).await;
    let target = server.send_text(&alice, &room_id, "react to me").await;
    let token = Some(alice.access_token.as_str());
    let (_, reaction) = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room_id}/send/m.reaction/r1"),
            token,
            json!({ "m.relates_to": { "rel_type": "m.annotation", "event_id": target, "key": "👍" } }),
        )
        .await;
    let reaction_id = reaction["event_id"].as_str().expect("event id").to_owned();
    let relations = format!("/_matrix/client/v1/rooms/{room_id}/relations/{target}");
    let (_, before) = server.get(&relations, token).await;
    assert_eq!(
        before["chunk"].as_array().map(Vec::len),
        Some(1),
        "{before}"
    );
    let (status, _) = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room_id}/redact/{reaction_id}/x1"),
            token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, after) = server.get(&relations, token).await;
    assert_eq!(after["chunk"], json!([]), "{after}");
    // The same reaction may be sent again: the redacted one no longer counts as a duplicate.
    let (status, again) = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room_id}/send/m.reaction/r2"),
            token,
            json!({ "m.relates_to": { "rel_type": "m.annotation", "event_id": target, "key": "👍" } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
}

/// Every event carries the reader's membership at that event (spec 1.11)
/// [Complement TestMembershipOnEvents].
#[tokio::test]
async fn events_carry_the_readers_membership_at_the_event() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room_id = server
        .create_room(
            &alice,
            json!({ "preset": "public_chat", "initial_state": [{
                "type": "m.room.history_visibility", "state_key": "",
                "content": { "history_visibility": "world_readable" }
            }] }),
        )
        .await;
    server.send_text(&alice, &room_id, "before bob").await;
    assert_eq!(server.join(&bob, &room_id).await.0, StatusCode::OK);
    server.send_text(&alice, &room_id, "with bob").await;
    let (_, page) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=50"),
            Some(&bob.access_token),
        )
        .await;
    let membership_at = |body: &str| {
        page["chunk"]
            .as_array()
            .expect("chunk")
            .iter()
            .find(|event| event["content"]["body"] == body)
            .map(|event| event["unsigned"]["membership"].clone())
    };
    assert_eq!(membership_at("before bob"), Some(json!("leave")), "{page}");
    assert_eq!(membership_at("with bob"), Some(json!("join")), "{page}");
}

/// `/messages` with a `contains_url` filter finds the media events and says `end` while more
/// may follow [Complement TestRoomImageRoundtrip].
#[tokio::test]
async fn messages_filtered_by_url_find_media_and_page_on() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let room_id = server.create_room(&alice, json!({})).await;
    let token = Some(alice.access_token.as_str());
    for index in 0..3 {
        let (status, _) = server
            .put(
                &format!("/_matrix/client/v3/rooms/{room_id}/send/m.room.message/img{index}"),
                token,
                json!({ "msgtype": "m.image", "body": format!("image {index}"), "url": format!("mxc://localhost/media{index}") }),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        server
            .send_text(&alice, &room_id, &format!("text {index}"))
            .await;
    }
    let filter = crate::filters::encode(&json!({ "contains_url": true }));
    let (_, first) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=2&filter={filter}"),
            token,
        )
        .await;
    assert_eq!(
        crate::common::message_bodies(&first["chunk"]),
        ["image 2", "image 1"],
        "{first}"
    );
    let end = first["end"].as_str().expect("end: more may follow");
    let (_, second) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=2&from={end}&filter={filter}"),
            token,
        )
        .await;
    assert_eq!(
        crate::common::message_bodies(&second["chunk"]),
        ["image 0"],
        "{second}"
    );
}

/// `/members?at=` is the membership as of that sync token [Complement TestGetRoomMembersAtPoint].
#[tokio::test]
async fn members_at_a_point_are_those_of_that_point() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    assert_eq!(server.join(&bob, &room_id).await.0, StatusCode::OK);
    let sync = server.sync(&alice, None, 0).await;
    let at = sync["next_batch"].as_str().expect("next_batch").to_owned();
    assert_eq!(server.join(&carol, &room_id).await.0, StatusCode::OK);
    let (_, members) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/members?at={at}"),
            Some(&alice.access_token),
        )
        .await;
    let mut joined: Vec<&str> = members["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .filter(|event| event["content"]["membership"] == "join")
        .filter_map(|event| event["state_key"].as_str())
        .collect();
    joined.sort_unstable();
    assert_eq!(
        joined,
        [alice.user_id.as_str(), bob.user_id.as_str()],
        "{members}"
    );
}

/// A user who left reads the room's state as of leaving [Complement TestLeftRoomFixture];
/// after forgetting, the history is closed to them.
#[tokio::test]
async fn left_users_read_the_state_as_of_leaving_and_forgetting_closes_history() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat", "name": "Before" }))
        .await;
    assert_eq!(server.join(&bob, &room_id).await.0, StatusCode::OK);
    let leave = format!("/_matrix/client/v3/rooms/{room_id}/leave");
    assert_eq!(
        server
            .post(&leave, Some(&bob.access_token), json!({}))
            .await
            .0,
        StatusCode::OK
    );
    let (status, _) = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.name/"),
            Some(&alice.access_token),
            json!({ "name": "After" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, name) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.name/"),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{name}");
    assert_eq!(name["name"], "Before");
    let (status, state) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/state"),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{state}");
    assert!(
        state.as_array().is_some_and(|events| events
            .iter()
            .any(|event| event["type"] == "m.room.name" && event["content"]["name"] == "Before")),
        "{state}"
    );
    let (status, _) = server
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/forget"),
            Some(&bob.access_token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_error(
        &server
            .get(
                &format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b"),
                Some(&bob.access_token),
            )
            .await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
}

/// `/context` applies its filter to the events around the one asked for.
#[tokio::test]
async fn context_applies_its_filter_to_the_events_around() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let room_id = server.create_room(&alice, json!({})).await;
    server.send_text(&alice, &room_id, "before").await;
    let (status, _) = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.topic/"),
            Some(&alice.access_token),
            json!({ "topic": "in between" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let middle = server.send_text(&alice, &room_id, "middle").await;
    server.send_text(&alice, &room_id, "after").await;
    let filter = crate::filters::encode(&json!({ "types": ["m.room.message"] }));
    let (status, context) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/context/{middle}?limit=4&filter={filter}"),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{context}");
    let around: Vec<&serde_json::Value> = context["events_before"]
        .as_array()
        .expect("before")
        .iter()
        .chain(context["events_after"].as_array().expect("after"))
        .collect();
    assert!(!around.is_empty(), "{context}");
    assert!(
        around.iter().all(|event| event["type"] == "m.room.message"),
        "{context}"
    );
    assert_eq!(context["event"]["content"]["body"], "middle");
}
