//! Rooms moving between the `/sync` sections as Complement's `tests/csapi` expects: left rooms in
//! `rooms.leave` once and only once, rejected invites, join-leave-join, and what a newly joined
//! room brings into an incremental sync (its timeline, its members' presence).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestServer, TestUser, message_bodies};

/// How long Complement's `MustSyncUntil` keeps syncing before it gives up.
const SYNC_UNTIL_SECONDS: u64 = 5;

/// `GET /sync?{query}`, asserting success.
async fn sync_with(server: &TestServer, user: &TestUser, query: &str) -> Value {
    let (status, response) = server
        .get(
            &format!("/_matrix/client/v3/sync?{query}"),
            Some(&user.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "sync?{query}: {response}");
    response
}

fn next_batch(sync: &Value) -> String {
    sync["next_batch"]
        .as_str()
        .unwrap_or_else(|| panic!("no next_batch in {sync}"))
        .to_owned()
}

/// Complement's `MustSyncUntil`: syncs with `query` from `since` (an initial sync when `None`),
/// each time from the previous `next_batch`, until one response passes `check`; returns it.
async fn sync_until(
    server: &TestServer,
    user: &TestUser,
    query: &str,
    since: Option<&str>,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(SYNC_UNTIL_SECONDS);
    let mut since = since.map(str::to_owned);
    loop {
        let mut full_query = query.to_owned();
        if let Some(since) = &since {
            full_query.push_str(&format!("&since={since}"));
        }
        let response = sync_with(server, user, &full_query).await;
        if check(&response) {
            return response;
        }
        assert!(
            Instant::now() < deadline,
            "condition not met within {SYNC_UNTIL_SECONDS}s; last sync?{full_query}: {response}"
        );
        since = Some(next_batch(&response));
    }
}

/// Whether `section.<room>` holds the member event of `user_id` with `membership`, in its state
/// or its timeline: Complement's `syncMembershipIn`.
fn has_membership(
    sync: &Value,
    section: &str,
    room_id: &str,
    user_id: &str,
    membership: &str,
) -> bool {
    let room = &sync["rooms"][section][room_id];
    ["state", "timeline"].iter().any(|part| {
        room[part]["events"].as_array().is_some_and(|events| {
            events.iter().any(|event| {
                event["type"] == "m.room.member"
                    && event["state_key"] == user_id
                    && event["content"]["membership"] == membership
            })
        })
    })
}

/// Complement's `SyncLeftFrom` for the syncing user: the room in `rooms.leave`, with the leave.
fn shows_own_leave(sync: &Value, room_id: &str, user: &TestUser) -> bool {
    has_membership(sync, "leave", room_id, &user.user_id, "leave")
}

/// Complement's `SyncJoinedTo`: the room in `rooms.join`, with the join of `user_id`.
fn shows_join(sync: &Value, room_id: &str, user_id: &str) -> bool {
    has_membership(sync, "join", room_id, user_id, "join")
}

fn shows_own_invite(sync: &Value, room_id: &str, user: &TestUser) -> bool {
    sync["rooms"]["invite"][room_id]["invite_state"]["events"]
        .as_array()
        .is_some_and(|events| {
            events.iter().any(|event| {
                event["type"] == "m.room.member"
                    && event["state_key"] == user.user_id.as_str()
                    && event["content"]["membership"] == "invite"
            })
        })
}

/// Whether the room is listed in `rooms.leave` at all (with or without events).
fn listed_in_leave(sync: &Value, room_id: &str) -> bool {
    sync["rooms"]["leave"].get(room_id).is_some()
}

async fn leave(server: &TestServer, user: &TestUser, room_id: &str) {
    let (status, body) = server
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/leave"),
            Some(&user.access_token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "leave {room_id}: {body}");
}

async fn join(server: &TestServer, user: &TestUser, room_id: &str) {
    let (status, body) = server.join(user, room_id).await;
    assert_eq!(status, StatusCode::OK, "join {room_id}: {body}");
}

/// A left room is in `rooms.leave`, with the leave, for an initial sync with `include_leave`, a
/// `full_state` sync from before the leave and a plain incremental sync from before the leave
/// [Complement TestSyncLeaveSection].
#[tokio::test]
async fn left_rooms_appear_in_the_leave_section_of_initial_full_state_and_incremental_syncs() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let include_leave = crate::filters::encode(&json!({ "room": { "include_leave": true } }));
    let room_id = server.create_room(&alice, json!({})).await;
    sync_until(&server, &alice, "timeout=1000", None, |sync| {
        shows_join(sync, &room_id, &alice.user_id)
    })
    .await;
    // Tokens fetched apart, as Complement does, so no sync's side effects reach another.
    let full_state_since = next_batch(
        &sync_with(
            &server,
            &alice,
            &format!("timeout=0&filter={include_leave}"),
        )
        .await,
    );
    let incremental_since = next_batch(&sync_with(&server, &alice, "timeout=0").await);
    leave(&server, &alice, &room_id).await;

    let initial = sync_until(
        &server,
        &alice,
        &format!("timeout=1000&filter={include_leave}"),
        None,
        |sync| shows_own_leave(sync, &room_id, &alice),
    )
    .await;
    assert!(
        !initial["rooms"]["join"]
            .as_object()
            .is_some_and(|join| join.contains_key(&room_id)),
        "a left room is not joined: {initial}"
    );
    sync_until(
        &server,
        &alice,
        &format!("timeout=1000&full_state=true&filter={include_leave}"),
        Some(&full_state_since),
        |sync| shows_own_leave(sync, &room_id, &alice),
    )
    .await;
    sync_until(
        &server,
        &alice,
        "timeout=1000",
        Some(&incremental_since),
        |sync| shows_own_leave(sync, &room_id, &alice),
    )
    .await;
}

/// A room left before a gap (20 messages elsewhere, a timeline limit of 1) is still in
/// `rooms.leave` of the incremental sync across the gap [Complement TestGappedSyncLeaveSection].
#[tokio::test]
async fn a_room_left_before_a_gap_still_appears_in_the_leave_section() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let gappy = crate::filters::encode(&json!({ "room": {
        "timeline": { "limit": 1 },
        "include_leave": true,
    } }));
    let room_to_leave = server.create_room(&alice, json!({})).await;
    let room_to_spam = server.create_room(&alice, json!({})).await;
    let since = next_batch(&sync_with(&server, &alice, &format!("timeout=0&filter={gappy}")).await);
    leave(&server, &alice, &room_to_leave).await;
    for _ in 0..20 {
        server
            .send_text(&alice, &room_to_spam, "Mr Anderson...")
            .await;
    }
    let sync = sync_until(
        &server,
        &alice,
        &format!("timeout=1000&filter={gappy}"),
        Some(&since),
        |sync| shows_own_leave(sync, &room_to_leave, &alice),
    )
    .await;
    let spam = &sync["rooms"]["join"][&room_to_spam]["timeline"];
    assert_eq!(spam["limited"], true, "the gap is there: {spam}");
}

/// Once the client has had its leave, later changes in the left room (another member's
/// event) do not bring the room back into `rooms.leave`, even across a gap
/// [Complement TestOlderLeftRoomsNotInLeaveSection].
#[tokio::test]
async fn rooms_left_in_an_earlier_sync_stay_out_of_the_leave_section() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let filter = crate::filters::encode(&json!({ "room": {
        "timeline": { "limit": 1 },
        "include_leave": true,
    } }));
    let room_to_leave = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    let room_to_spam = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    join(&server, &bob, &room_to_leave).await;
    join(&server, &bob, &room_to_spam).await;
    let since =
        next_batch(&sync_with(&server, &alice, &format!("timeout=0&filter={filter}")).await);
    leave(&server, &alice, &room_to_leave).await;
    let had_leave = sync_until(
        &server,
        &alice,
        &format!("timeout=1000&filter={filter}"),
        Some(&since),
        |sync| shows_own_leave(sync, &room_to_leave, &alice),
    )
    .await;
    let since = next_batch(&had_leave);

    // Bob rewrites his member event in the left room, then pads another room to make a gap.
    let (status, body) = server
        .put(
            &format!(
                "/_matrix/client/v3/rooms/{room_to_leave}/state/m.room.member/{}",
                bob.user_id
            ),
            Some(&bob.access_token),
            json!({
                "membership": "join",
                "filler": "Welcome back, my friends, to the show that never ends...",
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for _ in 0..20 {
        server
            .send_text(&bob, &room_to_spam, "Mr Anderson...")
            .await;
    }

    let sync = sync_with(
        &server,
        &alice,
        &format!("timeout=1000&filter={filter}&since={since}"),
    )
    .await;
    let left = &sync["rooms"]["leave"];
    assert!(
        left.is_null() || left == &json!({}),
        "a room left in an earlier sync is back in rooms.leave: {left}"
    );
    assert_eq!(
        sync["rooms"]["join"][&room_to_spam]["timeline"]["limited"], true,
        "the messages in the other room made a gap: {sync}"
    );
}

/// Rejecting an invite to a room whose history is for joined members only still shows the
/// rejection in `rooms.leave`, with the leave event [Complement TestLeaveEventInviteRejection].
#[tokio::test]
async fn a_rejected_invite_appears_in_the_leave_section_with_its_leave_event() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let include_leave = crate::filters::encode(&json!({ "room": { "include_leave": true } }));
    let room_id = server
        .create_room(
            &bob,
            json!({ "initial_state": [{
                "type": "m.room.history_visibility",
                "state_key": "",
                "content": { "history_visibility": "joined" },
            }] }),
        )
        .await;
    let since = next_batch(
        &sync_with(
            &server,
            &alice,
            &format!("timeout=0&filter={include_leave}"),
        )
        .await,
    );
    let (status, body) = server.invite(&bob, &room_id, &alice).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let query = format!("timeout=1000&filter={include_leave}");
    let invited = sync_until(&server, &alice, &query, Some(&since), |sync| {
        shows_own_invite(sync, &room_id, &alice)
    })
    .await;
    leave(&server, &alice, &room_id).await;
    let rejected = sync_until(
        &server,
        &alice,
        &query,
        Some(&next_batch(&invited)),
        |sync| shows_own_leave(sync, &room_id, &alice),
    )
    .await;
    let events = rejected["rooms"]["leave"][&room_id]["timeline"]["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        events.iter().all(|event| event["type"] == "m.room.member"),
        "nothing from the joined-only history leaks to the invitee: {rejected}"
    );
}

/// Joining, leaving and joining again between two syncs leaves the room joined, not in
/// `rooms.leave` [Complement TestCumulativeJoinLeaveJoinSync].
#[tokio::test]
async fn joining_leaving_and_joining_again_keeps_the_room_out_of_the_leave_section() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room_id = server
        .create_room(&bob, json!({ "preset": "public_chat" }))
        .await;
    let since = next_batch(&sync_with(&server, &alice, "timeout=0").await);

    join(&server, &alice, &room_id).await;
    let joined = sync_until(&server, &alice, "timeout=1000", None, |sync| {
        shows_join(sync, &room_id, &alice.user_id)
    })
    .await;
    leave(&server, &alice, &room_id).await;
    let left = sync_until(
        &server,
        &alice,
        "timeout=1000",
        Some(&next_batch(&joined)),
        |sync| shows_own_leave(sync, &room_id, &alice),
    )
    .await;
    join(&server, &alice, &room_id).await;
    sync_until(
        &server,
        &alice,
        "timeout=1000",
        Some(&next_batch(&left)),
        |sync| shows_join(sync, &room_id, &alice.user_id),
    )
    .await;

    let sync = sync_with(&server, &alice, &format!("timeout=0&since={since}")).await;
    assert!(
        !listed_in_leave(&sync, &room_id),
        "a joined-left-joined room is in rooms.leave: {sync}"
    );
    assert!(
        shows_join(&sync, &room_id, &alice.user_id),
        "the room is joined, with alice's join: {sync}"
    );
}

/// A room joined since the last sync shows only the timeline's types, and says it is
/// `limited` unless it holds all six messages (Synapse sends eight, limited, as a newly joined
/// room's timeline always is) [Complement TestSync "Newly joined room has correct timeline in
/// incremental sync"].
#[tokio::test]

async fn a_newly_joined_rooms_timeline_is_limited_unless_it_holds_every_message() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let filter = crate::filters::encode(&json!({ "room": {
        "timeline": { "limit": 10, "types": ["m.room.message"] },
        "state": { "types": [] },
    } }));
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    let mut sent = Vec::new();
    for index in 0..4 {
        let body = format!("alice message 1-{index}");
        server.send_text(&alice, &room_id, &body).await;
        sent.push(body);
    }
    let since =
        next_batch(&sync_with(&server, &bob, &format!("timeout=1000&filter={filter}")).await);
    for index in 0..4 {
        let body = format!("alice message 2-{index}");
        server.send_text(&alice, &room_id, &body).await;
        sent.push(body);
    }
    join(&server, &bob, &room_id).await;

    let sync = sync_with(
        &server,
        &bob,
        &format!("timeout=1000&filter={filter}&since={since}"),
    )
    .await;
    let timeline = &sync["rooms"]["join"][&room_id]["timeline"];
    let events = timeline["events"]
        .as_array()
        .unwrap_or_else(|| panic!("no timeline for the joined room: {sync}"));
    assert!(
        events.iter().all(|event| event["type"] == "m.room.message"),
        "only messages pass the filter: {timeline}"
    );
    // What is shown is the latest messages, in order.
    let bodies = message_bodies(&timeline["events"]);
    assert!(
        !bodies.is_empty() && sent.ends_with(&bodies),
        "the latest messages, in order: {bodies:?}"
    );
    let limited = timeline["limited"].as_bool();
    if events.len() == 6 {
        assert_eq!(
            limited,
            Some(false),
            "all the messages are there, so not limited: {timeline}"
        );
    } else {
        assert_eq!(
            limited,
            Some(true),
            "{} messages is not the whole timeline, so limited: {timeline}",
            events.len()
        );
        assert!(
            timeline["prev_batch"].is_string(),
            "a limited timeline can be paged back: {timeline}"
        );
    }
}

/// A newly joined room brings its members' presence into the joiner's incremental sync, once
/// [Complement TestSync "Newly joined room includes presence in incremental sync"].
#[tokio::test]

async fn a_newly_joined_room_brings_its_members_presence_once() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let (status, body) = server
        .put(
            &format!("/_matrix/client/v3/presence/{}/status", alice.user_id),
            Some(&alice.access_token),
            json!({ "presence": "online" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    sync_until(&server, &alice, "timeout=1000", None, |sync| {
        shows_join(sync, &room_id, &alice.user_id)
    })
    .await;
    let since = next_batch(&sync_with(&server, &bob, "timeout=1000").await);
    join(&server, &bob, &room_id).await;
    sync_until(&server, &alice, "timeout=1000", None, |sync| {
        shows_join(sync, &room_id, &bob.user_id)
    })
    .await;

    let with_presence = sync_until(&server, &bob, "timeout=1000", Some(&since), |sync| {
        sync["presence"]["events"]
            .as_array()
            .is_some_and(|events| !events.is_empty())
    })
    .await;
    let events = with_presence["presence"]["events"]
        .as_array()
        .expect("presence events");
    assert!(
        events.iter().all(|event| event["type"] == "m.presence"
            && event["sender"].is_string()
            && event["content"].is_object()),
        "well-formed presence events: {events:?}"
    );
    assert_eq!(
        events
            .iter()
            .filter(|event| event["sender"] == alice.user_id.as_str())
            .count(),
        1,
        "alice's presence, once: {events:?}"
    );

    let after = sync_with(
        &server,
        &bob,
        &format!("timeout=1000&since={}", next_batch(&with_presence)),
    )
    .await;
    let events = &after["presence"]["events"];
    assert!(
        events.is_null() || events == &json!([]),
        "nothing changed, so no presence: {events}"
    );
}

/// After rejecting an invite the room shows up in `rooms.leave` of `full_state` syncs within a
/// second, and once the user joins the (public) room anyway it leaves `rooms.leave` within a
/// second [Complement TestTentativeEventualJoiningAfterRejecting].
#[tokio::test]
async fn a_rejected_invite_leaves_the_leave_section_once_the_user_joins() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    let mut since = next_batch(&sync_with(&server, &bob, "timeout=0").await);
    let (status, body) = server.invite(&alice, &room_id, &bob).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    sync_until(&server, &bob, "timeout=1000", None, |sync| {
        shows_own_invite(sync, &room_id, &bob)
    })
    .await;
    leave(&server, &bob, &room_id).await;

    // Repeated full-state syncs, each from the last, as Complement polls.
    let mut full_state_syncs_until = async |wanted_in_leave: bool| -> Value {
        let start = Instant::now();
        loop {
            let sync = sync_with(
                &server,
                &bob,
                &format!("timeout=0&full_state=true&since={since}"),
            )
            .await;
            since = next_batch(&sync);
            if listed_in_leave(&sync, &room_id) == wanted_in_leave
                || start.elapsed() >= Duration::from_secs(1)
            {
                return sync;
            }
        }
    };
    let rejected = full_state_syncs_until(true).await;
    assert!(
        listed_in_leave(&rejected, &room_id),
        "a just-rejected invite is in rooms.leave of a full_state sync: {rejected}"
    );

    join(&server, &bob, &room_id).await;
    let joined = full_state_syncs_until(false).await;
    assert!(
        !listed_in_leave(&joined, &room_id),
        "a room joined after rejecting its invite is still in rooms.leave: {joined}"
    );
    assert!(
        shows_join(&joined, &room_id, &bob.user_id),
        "the room is joined, with bob's join: {joined}"
    );
}
