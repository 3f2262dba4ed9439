//! `/sync` as the spec and Synapse have it: gaps, presence, push rules, state hidden by filters,
//! left rooms (Complement's `tests/csapi`).

use reqwest::StatusCode;
use serde_json::json;

use crate::common::TestServer;

/// The initial sync carries `m.push_rules` even before the user changed any rule
/// [Complement TestPushSync], with the default `content` rules present.
#[tokio::test]
async fn initial_sync_carries_the_push_rules() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let sync = server.sync(&alice, None, 0).await;
    let events = sync["account_data"]["events"].as_array().expect("events");
    let rules = events
        .iter()
        .find(|event| event["type"] == "m.push_rules")
        .unwrap_or_else(|| panic!("no m.push_rules in {events:?}"));
    let global = &rules["content"]["global"];
    assert!(
        global["override"]
            .as_array()
            .is_some_and(|rules| rules.iter().any(|rule| rule["rule_id"] == ".m.rule.master"))
    );
    assert!(
        global["underride"]
            .as_array()
            .is_some_and(|rules| !rules.is_empty())
    );
    assert!(global["content"].is_array(), "{global}");
}

#[tokio::test]
async fn push_rule_sets_have_every_kind_and_the_global_scope_is_unwrapped() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let (_, all) = server
        .get("/_matrix/client/v3/pushrules/", Some(&alice.access_token))
        .await;
    let (_, global) = server
        .get(
            "/_matrix/client/v3/pushrules/global/",
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(all["global"], global);
    for kind in ["override", "content", "room", "sender", "underride"] {
        assert!(global[kind].is_array(), "{kind} missing from {global}");
    }
}

/// A timeline with a gap says so: `limited` and a `prev_batch` to page back from, for a room
/// joined with history in an incremental sync and for `full_state` [Complement TestSync,
/// TestSyncTimelineGap].
#[tokio::test]
async fn timelines_with_gaps_are_limited_with_a_prev_batch() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    for index in 0..15 {
        server
            .send_text(&alice, &room_id, &format!("before {index}"))
            .await;
    }
    let first = server.sync(&bob, None, 0).await;
    let since = first["next_batch"].as_str().expect("next_batch").to_owned();
    assert_eq!(server.join(&bob, &room_id).await.0, StatusCode::OK);
    let filter = crate::filters::encode(&json!({ "room": { "timeline": { "limit": 5 } } }));
    let (_, joined) = server
        .get(
            &format!("/_matrix/client/v3/sync?since={since}&timeout=0&filter={filter}"),
            Some(&bob.access_token),
        )
        .await;
    let room = &joined["rooms"]["join"][&room_id];
    assert_eq!(room["timeline"]["limited"], true, "{room}");
    assert!(room["timeline"]["prev_batch"].is_string(), "{room}");
    assert_eq!(
        room["timeline"]["events"].as_array().map(Vec::len),
        Some(5),
        "{room}"
    );
    // The gap can be paged back from prev_batch.
    let prev_batch = room["timeline"]["prev_batch"].as_str().expect("prev_batch");
    let (_, page) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&from={prev_batch}&limit=5"),
            Some(&bob.access_token),
        )
        .await;
    assert!(
        crate::common::message_bodies(&page["chunk"])
            .iter()
            .any(|body| body.starts_with("before ")),
        "{page}"
    );

    // full_state with a short timeline is limited too.
    let since = joined["next_batch"].as_str().expect("next_batch");
    for index in 0..8 {
        server
            .send_text(&alice, &room_id, &format!("after {index}"))
            .await;
    }
    let (_, full) = server
        .get(
            &format!(
                "/_matrix/client/v3/sync?since={since}&timeout=0&full_state=true&filter={filter}"
            ),
            Some(&bob.access_token),
        )
        .await;
    let room = &full["rooms"]["join"][&room_id];
    assert_eq!(room["timeline"]["limited"], true, "{room}");
    assert!(room["timeline"]["prev_batch"].is_string());
}

/// Presence of someone sharing a room arrives in the other's incremental sync
/// [Complement TestSync presence].
#[tokio::test]
async fn presence_of_room_mates_arrives_in_incremental_sync() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    assert_eq!(server.join(&bob, &room_id).await.0, StatusCode::OK);
    let first = server.sync(&bob, None, 0).await;
    let since = first["next_batch"].as_str().expect("next_batch").to_owned();
    let (status, _) = server
        .put(
            &format!("/_matrix/client/v3/presence/{}/status", alice.user_id),
            Some(&alice.access_token),
            json!({ "presence": "online", "status_msg": "here" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let later = server.sync(&bob, Some(&since), 5000).await;
    let events = later["presence"]["events"].as_array().expect("presence");
    assert!(
        events
            .iter()
            .any(|event| event["sender"] == alice.user_id.as_str()
                && event["content"]["presence"] == "online"
                && event["content"]["status_msg"] == "here"),
        "{later}"
    );
}

/// A state change the timeline filter leaves out still reaches the client, in `state`.
#[tokio::test]
async fn state_changes_dropped_from_the_timeline_by_a_filter_arrive_as_state() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let room_id = server.create_room(&alice, json!({ "name": "Old" })).await;
    let filter =
        crate::filters::encode(&json!({ "room": { "timeline": { "types": ["m.room.message"] } } }));
    let (_, first) = server
        .get(
            &format!("/_matrix/client/v3/sync?timeout=0&filter={filter}"),
            Some(&alice.access_token),
        )
        .await;
    let since = first["next_batch"].as_str().expect("next_batch");
    let (status, _) = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.name/"),
            Some(&alice.access_token),
            json!({ "name": "New" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    server.send_text(&alice, &room_id, "after the rename").await;
    let (_, later) = server
        .get(
            &format!("/_matrix/client/v3/sync?timeout=0&since={since}&filter={filter}"),
            Some(&alice.access_token),
        )
        .await;
    let room = &later["rooms"]["join"][&room_id];
    let in_state = room["state"]["events"].as_array().is_some_and(|events| {
        events
            .iter()
            .any(|event| event["type"] == "m.room.name" && event["content"]["name"] == "New")
    });
    assert!(in_state, "the rename is lost: {room}");
}

/// A left room in an initial sync with `include_leave` shows history only up to the leave
/// [Complement TestArchivedRoomsHistory].
#[tokio::test]
async fn left_rooms_show_history_up_to_the_leave() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    assert_eq!(server.join(&bob, &room_id).await.0, StatusCode::OK);
    server
        .send_text(&alice, &room_id, "while bob is here")
        .await;
    let leave = format!("/_matrix/client/v3/rooms/{room_id}/leave");
    assert_eq!(
        server
            .post(&leave, Some(&bob.access_token), json!({}))
            .await
            .0,
        StatusCode::OK
    );
    server.send_text(&alice, &room_id, "after bob left").await;
    let filter = crate::filters::encode(&json!({ "room": { "include_leave": true } }));
    let (_, sync) = server
        .get(
            &format!("/_matrix/client/v3/sync?timeout=0&filter={filter}"),
            Some(&bob.access_token),
        )
        .await;
    let left = &sync["rooms"]["leave"][&room_id];
    let bodies = crate::common::message_bodies(&left["timeline"]["events"]);
    assert!(bodies.contains(&"while bob is here".to_owned()), "{left}");
    assert!(!bodies.contains(&"after bob left".to_owned()), "{left}");
    let last = left["timeline"]["events"]
        .as_array()
        .and_then(|events| events.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        last["type"], "m.room.member",
        "the leave closes the timeline: {left}"
    );
    assert_eq!(last["content"]["membership"], "leave");
}
