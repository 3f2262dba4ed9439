//! Context, timestamp lookup, the public room directory, knocking and restricted rooms.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{TestServer, assert_error, message_bodies};

#[tokio::test]
async fn context_surrounds_an_event_and_timestamps_find_events() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room = server
        .create_room(&alice, json!({ "name": "Context" }))
        .await;
    let mut ids = Vec::new();
    for index in 0..9 {
        ids.push(server.send_text(&alice, &room, &format!("c{index}")).await);
    }
    let (status, context) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/context/{}?limit=4", ids[4]),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(context["event"]["content"]["body"], "c4");
    assert_eq!(
        message_bodies(&context["events_before"]),
        ["c3", "c2"],
        "before: newest first"
    );
    assert_eq!(message_bodies(&context["events_after"]), ["c5", "c6"]);
    assert!(
        context["state"]
            .as_array()
            .expect("state")
            .iter()
            .any(|event| event["type"] == "m.room.name")
    );
    let end = context["end"].as_str().expect("end");
    let (_, more) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/messages?dir=f&from={end}&limit=2"),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(
        message_bodies(&more["chunk"]),
        ["c7", "c8"],
        "end continues forwards"
    );
    assert_error(
        &server
            .get(
                &format!("/_matrix/client/v3/rooms/{room}/context/{}", ids[4]),
                Some(&bob.access_token),
            )
            .await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );

    let (_, event) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/event/{}", ids[6]),
            Some(&alice.access_token),
        )
        .await;
    let ts = event["origin_server_ts"].as_u64().expect("ts");
    let (status, found) = server
        .get(
            &format!("/_matrix/client/v1/rooms/{room}/timestamp_to_event?ts={ts}&dir=b"),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let found_ts = found["origin_server_ts"].as_u64().expect("ts");
    // Event 6 itself has timestamp `ts`, so the nearest event either way has exactly that
    // timestamp (events sent in the same millisecond may stand in for it).
    assert_eq!(
        found_ts, ts,
        "backwards finds the last event at or before the timestamp"
    );
    let (status, after) = server
        .get(
            &format!("/_matrix/client/v1/rooms/{room}/timestamp_to_event?ts={ts}&dir=f"),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        after["origin_server_ts"].as_u64(),
        Some(ts),
        "forwards finds the first event at or after the timestamp"
    );
    let (_, first) = server
        .get(
            &format!("/_matrix/client/v1/rooms/{room}/timestamp_to_event?ts=0&dir=f"),
            Some(&alice.access_token),
        )
        .await;
    let (_, create) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.create?format=event"),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(
        first["event_id"], create["event_id"],
        "the first event of a room is its create event"
    );
    assert_error(
        &server
            .get(
                &format!("/_matrix/client/v1/rooms/{room}/timestamp_to_event?ts=0&dir=b"),
                Some(&alice.access_token),
            )
            .await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
}

#[tokio::test]
async fn the_public_directory_lists_published_rooms_by_size_and_searches() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let big = server.create_room(&alice, json!({ "visibility": "public", "preset": "public_chat", "name": "Big room", "topic": "Lots of people", "room_alias_name": "big" })).await;
    let small = server
        .create_room(
            &alice,
            json!({ "visibility": "public", "preset": "public_chat", "name": "Small room" }),
        )
        .await;
    server
        .create_room(&alice, json!({ "name": "Hidden room" }))
        .await;
    server.join(&bob, &big).await;

    let (status, listing) = server.get("/_matrix/client/v3/publicRooms", None).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = listing["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .filter_map(|room| room["room_id"].as_str())
        .collect();
    assert_eq!(
        ids,
        [big.as_str(), small.as_str()],
        "published rooms only, most members first"
    );
    let first = &listing["chunk"][0];
    assert_eq!(
        (
            first["num_joined_members"].as_u64(),
            first["name"].as_str(),
            first["canonical_alias"].as_str()
        ),
        (Some(2), Some("Big room"), Some("#big:localhost"))
    );
    assert_eq!(
        (
            first["join_rule"].as_str(),
            first["world_readable"].as_bool()
        ),
        (Some("public"), Some(false))
    );
    assert_eq!(listing["total_room_count_estimate"], 2);

    let (_, page) = server
        .get("/_matrix/client/v3/publicRooms?limit=1", None)
        .await;
    assert_eq!(page["chunk"].as_array().expect("chunk").len(), 1);
    let next = page["next_batch"].as_str().expect("next_batch");
    let (_, second) = server
        .get(
            &format!("/_matrix/client/v3/publicRooms?limit=1&since={next}"),
            None,
        )
        .await;
    assert_eq!(second["chunk"][0]["room_id"], small.as_str());
    assert!(second.get("next_batch").is_none());

    let (status, searched) = server
        .post(
            "/_matrix/client/v3/publicRooms",
            Some(&bob.access_token),
            json!({ "filter": { "generic_search_term": "PEOPLE" } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(searched["chunk"].as_array().expect("chunk").len(), 1);
    assert_eq!(searched["chunk"][0]["room_id"], big.as_str());
}

#[tokio::test]
async fn knocking_asks_and_an_invite_lets_in() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room = server.create_room(&alice, json!({ "name": "Knock knock", "initial_state": [{ "type": "m.room.join_rules", "content": { "join_rule": "knock" } }] })).await;
    let since = server.sync(&bob, None, 0).await["next_batch"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_error(
        &server.join(&bob, &room).await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    let (status, knocked) = server
        .post(
            &format!("/_matrix/client/v3/knock/{room}"),
            Some(&bob.access_token),
            json!({ "reason": "let me in" }),
        )
        .await;
    assert_eq!(
        (status, knocked["room_id"].as_str()),
        (StatusCode::OK, Some(room.as_str()))
    );
    let sync = server.sync(&bob, Some(&since), 5_000).await;
    let knock_state = sync["rooms"]["knock"][&room]["knock_state"]["events"]
        .as_array()
        .expect("knock state")
        .clone();
    assert!(
        knock_state.iter().any(
            |event| event["type"] == "m.room.name" && event["content"]["name"] == "Knock knock"
        )
    );
    assert!(
        knock_state
            .iter()
            .any(|event| event["type"] == "m.room.member"
                && event["content"]["membership"] == "knock")
    );
    let (_, member) = server
        .get(
            &format!(
                "/_matrix/client/v3/rooms/{room}/state/m.room.member/{}",
                bob.user_id
            ),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(
        (member["membership"].as_str(), member["reason"].as_str()),
        (Some("knock"), Some("let me in"))
    );
    assert_eq!(server.invite(&alice, &room, &bob).await.0, StatusCode::OK);
    assert_eq!(server.join(&bob, &room).await.0, StatusCode::OK);

    let public = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    assert_error(
        &server
            .post(
                &format!("/_matrix/client/v3/knock/{public}"),
                Some(&bob.access_token),
                json!({}),
            )
            .await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
}

#[tokio::test]
async fn restricted_rooms_admit_members_of_the_allowed_room_only() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let space = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    server.join(&bob, &space).await;
    let rules = json!({ "join_rule": "restricted", "allow": [{ "type": "m.room_membership", "room_id": space }] });
    let room = server
        .create_room(
            &alice,
            json!({ "initial_state": [{ "type": "m.room.join_rules", "content": rules }] }),
        )
        .await;
    assert_eq!(
        server.join(&bob, &room).await.0,
        StatusCode::OK,
        "a member of the allowed room may join"
    );
    let (_, member) = server
        .get(
            &format!(
                "/_matrix/client/v3/rooms/{room}/state/m.room.member/{}",
                bob.user_id
            ),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(
        member["join_authorised_via_users_server"],
        alice.user_id.as_str()
    );
    assert_error(
        &server.join(&carol, &room).await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
}
