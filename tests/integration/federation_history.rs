//! History between servers: what `get_missing_events` and `backfill` give another server under
//! each history visibility, and clients paging back through history fetched from elsewhere
//! (Complement's TestInboundCanReturnMissingEvents and TestMessagesOverFederation).

use reqwest::StatusCode;
use ruma::{
    OwnedEventId, OwnedServerName, RoomId,
    api::{
        OutgoingRequestExt as _,
        federation::{authentication::XMatrixSigningInput, event::get_missing_events},
    },
};
use serde_json::{Value, json};

use crate::{
    common::{TestServer, TestUser, timeline_events},
    federation_helpers::{http, join_via},
};

/// `POST /get_missing_events` from `origin` to `destination`, signed; the events answered.
async fn missing_events_as(
    origin: &TestServer,
    destination: &TestServer,
    room_id: &str,
    earliest: Vec<OwnedEventId>,
    latest: Vec<OwnedEventId>,
) -> Vec<Value> {
    let room_id = RoomId::parse(room_id).expect("room id");
    let mut request = get_missing_events::v1::Request::new(room_id, earliest, latest);
    request.limit = 10u32.into();
    request.min_depth = 1u32.into();
    let origin_name = OwnedServerName::try_from(origin.server_name()).expect("name");
    let destination_name = OwnedServerName::try_from(destination.server_name()).expect("name");
    let input = XMatrixSigningInput::new(
        origin_name,
        destination_name,
        &origin.server().services().keys.key_pair,
    );
    let address = destination.server().federation_addr.expect("federation");
    let http_request = request
        .try_into_http_request::<Vec<u8>>(&format!("https://{address}"), input, ())
        .expect("request");
    let response = http()
        .execute(reqwest::Request::try_from(http_request).expect("reqwest request"))
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    body["events"].as_array().expect("events").clone()
}

/// The id of a state event as `user` reads it in the room's state.
async fn state_event_id(
    server: &TestServer,
    user: &TestUser,
    room_id: &str,
    kind: &str,
    state_key: &str,
) -> OwnedEventId {
    let (_, state) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/state"),
            Some(&user.access_token),
        )
        .await;
    let id = state
        .as_array()
        .expect("state")
        .iter()
        .find(|event| event["type"] == kind && event["state_key"] == state_key)
        .and_then(|event| event["event_id"].as_str())
        .unwrap_or_else(|| panic!("{kind}/{state_key} in {state}"))
        .to_owned();
    OwnedEventId::try_from(id).expect("event id")
}

/// Another server gets every event between what it knows and what it asks for, oldest first;
/// those its users could not see (`joined` and `invited` history before they came) redacted,
/// not left out [Complement TestInboundCanReturnMissingEvents].
#[tokio::test(flavor = "multi_thread")]
async fn missing_events_are_whole_or_redacted_by_history_visibility() {
    let (a, _) = TestServer::start_federated().await;
    let (b, _) = TestServer::start_federated().await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    for (visibility, visible) in [
        ("world_readable", true),
        ("shared", true),
        ("invited", false),
        ("joined", false),
    ] {
        let room_id = a
            .create_room(&alice, json!({ "preset": "public_chat" }))
            .await;
        let (status, body) = a
            .put(
                &format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.history_visibility/"),
                Some(&alice.access_token),
                json!({ "history_visibility": visibility }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let message = a.send_text(&alice, &room_id, "1").await;
        let joined = join_via(&b, &bob, &room_id, &a.server_name()).await;
        assert_eq!(joined.0, StatusCode::OK, "{}", joined.1);
        let create = state_event_id(&a, &alice, &room_id, "m.room.create", "").await;
        let join = state_event_id(&a, &alice, &room_id, "m.room.member", &bob.user_id).await;
        let events =
            missing_events_as(&b, &a, &room_id, vec![create.clone()], vec![join.clone()]).await;
        let ids: Vec<&str> = events
            .iter()
            .map(|event| event["type"].as_str().unwrap_or_default())
            .collect();
        assert!(!events.is_empty(), "{visibility}");
        assert_eq!(
            ids.last(),
            Some(&"m.room.message"),
            "{visibility}: oldest first: {ids:?}"
        );
        assert_eq!(ids[0], "m.room.member", "{visibility}: {ids:?}");
        assert!(
            events
                .iter()
                .all(|event| event["room_id"] == room_id.as_str()
                    && event["type"] != "m.room.create"),
            "{visibility}: neither end is included: {ids:?}"
        );
        let served = events.last().expect("the message");
        if visible {
            assert_eq!(served["content"]["body"], "1", "{visibility}: {served}");
        } else {
            assert_eq!(
                served["content"],
                json!({}),
                "{visibility}: redacted, {served}"
            );
            // Redacted, it still has its place in the graph.
            assert!(
                served["prev_events"].is_array() && served["hashes"].is_object(),
                "{served}"
            );
        }
        let _ = &message;
    }
}

/// Paging back through a room joined over federation fetches history from the other server
/// in as many batches as the pages need, until the room's start [Complement
/// TestMessagesOverFederation: 300 messages read in pages of 200].
#[tokio::test(flavor = "multi_thread")]
async fn paging_back_fetches_all_earlier_history_from_the_other_server() {
    let (a, _) = TestServer::start_federated().await;
    let (b, _) = TestServer::start_federated().await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let room_id = a
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    let mut sent = Vec::new();
    for index in 0..300 {
        sent.push(a.send_text(&alice, &room_id, &format!("m{index}")).await);
    }
    let joined = join_via(&b, &bob, &room_id, &a.server_name()).await;
    assert_eq!(joined.0, StatusCode::OK, "{}", joined.1);
    let seen = page_back(&b, &bob, &room_id, 200).await;
    let found: Vec<&String> = seen.iter().filter(|id| sent.contains(id)).collect();
    let expected: Vec<&String> = sent.iter().rev().collect();
    assert_eq!(
        found.len(),
        300,
        "expected 300 events in the timeline (got {})",
        found.len()
    );
    assert_eq!(found, expected, "newest first, in order");
}

/// Event ids a user reads paging back from now until there is no `end`.
async fn page_back(
    server: &TestServer,
    user: &TestUser,
    room_id: &str,
    limit: usize,
) -> Vec<String> {
    let mut from: Option<String> = None;
    let mut seen = Vec::new();
    for _ in 0..50 {
        let mut path = format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit={limit}");
        if let Some(from) = &from {
            path.push_str(&format!("&from={from}"));
        }
        let (status, page) = server.get(&path, Some(&user.access_token)).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let chunk = page["chunk"].as_array().expect("chunk");
        seen.extend(
            chunk
                .iter()
                .filter_map(|event| event["event_id"].as_str().map(str::to_owned)),
        );
        match page["end"].as_str() {
            Some(end) if !chunk.is_empty() => from = Some(end.to_owned()),
            _ => return seen,
        }
    }
    panic!("paging did not end");
}

/// A server whose user left and joins again fetches what was said meanwhile, and the
/// timeline has it before the new join [Complement TestMessagesOverFederation, re-joining].
#[tokio::test(flavor = "multi_thread")]
async fn a_rejoining_server_fetches_what_it_missed() {
    let (a, _) = TestServer::start_federated().await;
    let (b, _) = TestServer::start_federated().await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let room_id = a
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    let joined = join_via(&b, &bob, &room_id, &a.server_name()).await;
    assert_eq!(joined.0, StatusCode::OK, "{}", joined.1);
    let (status, body) = b
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/leave"),
            Some(&bob.access_token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    a.sync_until(&alice, 15, |syncs| {
        timeline_events(syncs, &room_id).iter().any(|event| {
            event["state_key"] == bob.user_id.as_str() && event["content"]["membership"] == "leave"
        })
    })
    .await;
    let mut sent = Vec::new();
    for index in 0..20 {
        sent.push(
            a.send_text(&alice, &room_id, &format!("while away {index}"))
                .await,
        );
    }
    let joined = join_via(&b, &bob, &room_id, &a.server_name()).await;
    assert_eq!(joined.0, StatusCode::OK, "{}", joined.1);
    let seen = page_back(&b, &bob, &room_id, 10).await;
    let found: Vec<&String> = seen.iter().filter(|id| sent.contains(id)).collect();
    let expected: Vec<&String> = sent.iter().rev().collect();
    assert_eq!(
        found,
        expected,
        "expected 20 events in the timeline (got {})",
        found.len()
    );
}
