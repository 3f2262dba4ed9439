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

/// Synapse's archived-room rules, as Complement checks them [TestArchivedRoomsHistory,
/// TestLeaveEventVisibility]: a left room shows the timeline up to the leave (with the filter's
/// types), no state, and nothing sent after the leave, both in an initial sync and in an
/// incremental one from before the leave.
#[tokio::test]
async fn archived_rooms_follow_synapses_rules() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let filter = crate::filters::encode(&json!({ "room": {
        "timeline": { "types": ["m.room.message", "a.madeup.test.state"] },
        "state": { "types": ["a.madeup.test.state"] },
        "include_leave": true,
    } }));
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    assert_eq!(server.join(&bob, &room_id).await.0, StatusCode::OK);
    let (_, first) = server
        .get(
            &format!("/_matrix/client/v3/sync?timeout=0&filter={filter}"),
            Some(&bob.access_token),
        )
        .await;
    let since = first["next_batch"].as_str().expect("next_batch").to_owned();
    server.send_text(&alice, &room_id, "before").await;
    let state_path = format!("/_matrix/client/v3/rooms/{room_id}/state/a.madeup.test.state");
    assert_eq!(
        server
            .put(
                &state_path,
                Some(&alice.access_token),
                json!({ "my_key": "before" })
            )
            .await
            .0,
        StatusCode::OK
    );
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
    server.send_text(&alice, &room_id, "after").await;
    assert_eq!(
        server
            .put(
                &state_path,
                Some(&alice.access_token),
                json!({ "my_key": "after" })
            )
            .await
            .0,
        StatusCode::OK
    );
    for since in [None, Some(since.as_str())] {
        let mut path = format!("/_matrix/client/v3/sync?timeout=0&filter={filter}");
        if let Some(since) = since {
            path.push_str(&format!("&since={since}"));
        }
        let (_, sync) = server.get(&path, Some(&bob.access_token)).await;
        let left = &sync["rooms"]["leave"][&room_id];
        let state = &left["state"]["events"];
        assert!(
            state.is_null() || state == &json!([]),
            "no state (since {since:?}): {left}"
        );
        let events = left["timeline"]["events"].as_array().expect("timeline");
        assert_eq!(events.len(), 2, "since {since:?}: {left}");
        assert_eq!(events[0]["content"]["body"], "before");
        assert_eq!(events[1]["type"], "a.madeup.test.state");
        assert_eq!(events[1]["content"]["my_key"], "before");
    }

    // With the leave in the timeline and `joined` history: exactly the leave, no state.
    let carol = server.register("carol").await;
    let joined_only = server
        .create_room(
            &alice,
            json!({ "preset": "public_chat", "initial_state": [
                { "type": "m.room.history_visibility", "state_key": "", "content": { "history_visibility": "joined" } }
            ] }),
        )
        .await;
    assert_eq!(server.join(&carol, &joined_only).await.0, StatusCode::OK);
    let everything = crate::filters::encode(&json!({ "room": { "include_leave": true } }));
    let (_, before) = server
        .get(
            &format!("/_matrix/client/v3/sync?timeout=0&filter={everything}"),
            Some(&carol.access_token),
        )
        .await;
    let since = before["next_batch"].as_str().expect("next_batch");
    assert_eq!(
        server
            .post(
                &format!("/_matrix/client/v3/rooms/{joined_only}/leave"),
                Some(&carol.access_token),
                json!({})
            )
            .await
            .0,
        StatusCode::OK
    );
    let (_, sync) = server
        .get(
            &format!("/_matrix/client/v3/sync?timeout=0&filter={everything}&since={since}"),
            Some(&carol.access_token),
        )
        .await;
    let left = &sync["rooms"]["leave"][&joined_only];
    let state = &left["state"]["events"];
    assert!(state.is_null() || state == &json!([]), "{left}");
    let events = left["timeline"]["events"].as_array().expect("timeline");
    assert_eq!(events.len(), 1, "{left}");
    assert_eq!(events[0]["type"], "m.room.member");
    assert_eq!(events[0]["sender"], carol.user_id.as_str());
    assert_eq!(events[0]["content"]["membership"], "leave");
}

/// `use_state_after` (spec v1.16, MSC4222): the state at the *end* of the timeline, timeline
/// events included, under `state_after` (or `org.matrix.msc4222.state_after` when asked with
/// the unstable name, as matrix-js-sdk does), and no `state`; for joined and left rooms.
#[tokio::test]
async fn state_after_is_the_state_at_the_end_of_the_timeline() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat", "name": "first" }))
        .await;
    assert_eq!(server.join(&bob, &room_id).await.0, StatusCode::OK);
    let sync = async |query: &str| -> serde_json::Value {
        let (status, body) = server
            .get(
                &format!("/_matrix/client/v3/sync?timeout=0{query}"),
                Some(&bob.access_token),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    };
    let names = |events: &serde_json::Value| -> Vec<String> {
        events
            .as_array()
            .into_iter()
            .flatten()
            .filter(|event| event["type"] == "m.room.name")
            .filter_map(|event| event["content"]["name"].as_str().map(str::to_owned))
            .collect()
    };
    // Initial: the whole state at the end, no `state`.
    let initial = sync("&use_state_after=true").await;
    let room = &initial["rooms"]["join"][&room_id];
    assert!(room.get("state").is_none(), "{room}");
    assert_eq!(names(&room["state_after"]["events"]), ["first"], "{room}");
    let since = initial["next_batch"]
        .as_str()
        .expect("next_batch")
        .to_owned();

    // A rename in the timeline is in state_after too; with a timeline of one message, the
    // rename before it still arrives.
    let rename = format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.name/");
    assert_eq!(
        server
            .put(
                &rename,
                Some(&alice.access_token),
                json!({ "name": "second" })
            )
            .await
            .0,
        StatusCode::OK
    );
    let incremental = sync(&format!("&use_state_after=true&since={since}")).await;
    let room = &incremental["rooms"]["join"][&room_id];
    assert_eq!(names(&room["timeline"]["events"]), ["second"], "{room}");
    assert_eq!(names(&room["state_after"]["events"]), ["second"], "{room}");
    let since = incremental["next_batch"]
        .as_str()
        .expect("next_batch")
        .to_owned();
    assert_eq!(
        server
            .put(
                &rename,
                Some(&alice.access_token),
                json!({ "name": "third" })
            )
            .await
            .0,
        StatusCode::OK
    );
    server.send_text(&alice, &room_id, "after the rename").await;
    let one = crate::filters::encode(&json!({ "room": { "timeline": { "limit": 1 } } }));
    let gappy = sync(&format!(
        "&org.matrix.msc4222.use_state_after=true&since={since}&filter={one}"
    ))
    .await;
    let room = &gappy["rooms"]["join"][&room_id];
    assert_eq!(room["timeline"]["limited"], true, "{room}");
    assert!(names(&room["timeline"]["events"]).is_empty(), "{room}");
    assert!(
        room.get("state").is_none() && room.get("state_after").is_none(),
        "{room}"
    );
    assert_eq!(
        names(&room["org.matrix.msc4222.state_after"]["events"]),
        ["third"],
        "{room}"
    );
    // Without the parameter: `state` as before.
    let plain = sync("").await;
    assert!(
        plain["rooms"]["join"][&room_id]["state"].is_object(),
        "{plain}"
    );

    // A left room: the state as of the leave, the leave included.
    let since = gappy["next_batch"].as_str().expect("next_batch").to_owned();
    let leave = format!("/_matrix/client/v3/rooms/{room_id}/leave");
    assert_eq!(
        server
            .post(&leave, Some(&bob.access_token), json!({}))
            .await
            .0,
        StatusCode::OK
    );
    let left = sync(&format!("&use_state_after=true&since={since}")).await;
    let room = &left["rooms"]["leave"][&room_id];
    let after = room["state_after"]["events"]
        .as_array()
        .expect("state_after");
    assert!(
        after.iter().any(|event| event["type"] == "m.room.member"
            && event["state_key"] == bob.user_id.as_str()
            && event["content"]["membership"] == "leave"),
        "{room}"
    );
    assert!(room.get("state").is_none(), "{room}");
}
