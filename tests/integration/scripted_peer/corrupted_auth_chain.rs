//! Complement's `TestCorruptedAuthChain`, with the peer hosting the room: bob's profile changes
//! A ← B ← C ← D ← E each cite the one before in `auth_events`; Myelin is sent a message whose
//! ancestors it lacks, learns of A–E through `state_ids`, and cannot fetch B. C, D and E then have
//! an auth chain with a hole in it, and must never become bob's membership. (A server that checks
//! auth events against an in-memory map of fetched events, and forgets to drop C from it, accepts
//! D and E.)

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{PeerEvent, Reply, ScriptedPeer, StateMap, encode};
use crate::common::{TestServer, TestUser};

/// The room after Myelin was sent `send_txn_event`, scripted as Complement scripts its server.
struct CorruptedChain {
    peer: ScriptedPeer,
    myelin: TestServer,
    alice: TestUser,
    room_id: String,
    bob: String,
    /// A, B, C, D, E.
    profiles: [String; 5],
    state_ids_event: String,
    gme_event: String,
    send_txn_event: String,
    /// Every event Myelin held before: the room's state and its auth chain.
    existing_auth_chain: Vec<String>,
    transaction: (StatusCode, Value),
}

fn member_key(user_id: &str) -> (String, String) {
    ("m.room.member".to_owned(), user_id.to_owned())
}

fn state_key(kind: &str) -> (String, String) {
    (kind.to_owned(), String::new())
}

/// The peer's current state with bob's membership replaced by `member`.
fn state_with_member(state: &StateMap, bob: &str, member: &str) -> Vec<String> {
    let mut ids: Vec<String> = state
        .iter()
        .filter(|(key, _)| **key != member_key(bob))
        .map(|(_, id)| id.clone())
        .collect();
    ids.push(member.to_owned());
    ids
}

async fn send_corrupted_chain() -> CorruptedChain {
    let peer = ScriptedPeer::start().await;
    let (myelin, _) = TestServer::start_federated().await;
    let bob = peer.user_id("bob");
    let room_id = peer.create_room("10", "bob");
    let alice = myelin.register("alice").await;
    peer.join_from(&myelin, &alice, &room_id).await;

    // Complement takes the `send_join` answer's auth chain; this is the same events.
    let state = peer.current_state(&room_id);
    let state_ids: Vec<String> = state.values().cloned().collect();
    let mut existing_auth_chain = peer.auth_chain(&room_id, &state_ids);
    for id in state_ids {
        if !existing_auth_chain.contains(&id) {
            existing_auth_chain.push(id);
        }
    }
    let fixed_auth = [
        state[&state_key("m.room.create")].clone(),
        state[&state_key("m.room.power_levels")].clone(),
        state[&state_key("m.room.join_rules")].clone(),
    ];
    let profile = |name: &str| {
        let content = json!({ "membership": "join", "displayname": name });
        PeerEvent::state("m.room.member", &bob, &bob, content)
    };
    let (a, _) = peer.build_event(&room_id, profile("A"));
    let mut chain = vec![a];
    for name in ["B", "C", "D", "E"] {
        let previous = chain.last().expect("A first").clone();
        let mut auth_events = fixed_auth.to_vec();
        auth_events.push(previous.clone());
        let event = profile(name)
            .with_prev_events([previous])
            .with_auth_events(auth_events);
        chain.push(peer.build_event(&room_id, event).0);
    }
    let profiles = <[String; 5]>::try_from(chain).expect("five events");
    let [a, b, c, d, e] = profiles.clone();
    // E becomes bob's membership at the peer, so the messages below cite it.
    peer.place_event(&room_id, &e);
    let message = |body: &str, prev: &str| PeerEvent::message(&bob, body).with_prev_events([prev]);
    let (state_ids_event, _) = peer.send_event(&room_id, message("for /state_ids", &e));
    let (gme_event, gme_json) = peer.send_event(
        &room_id,
        message("for /get_missing_events", &state_ids_event),
    );
    let (send_txn_event, send_txn_json) =
        peer.send_event(&room_id, message("for /send", &gme_event));

    peer.withhold(&b);
    // Complement's server has no `/event_auth`.
    peer.on(Method::GET, "/_matrix/federation/v1/event_auth/*/*", |_| {
        Some(Reply::unrecognized())
    });
    peer.on(
        Method::POST,
        "/_matrix/federation/v1/get_missing_events/*",
        move |_| Some(Reply::json(json!({ "events": [gme_json.clone()] }))),
    );
    let mut auth_chain_ids = existing_auth_chain.clone();
    auth_chain_ids.extend([a, b, c, d]);
    let pdu_ids = state_with_member(&peer.current_state(&room_id), &bob, &e);
    peer.on(
        Method::GET,
        "/_matrix/federation/v1/state_ids/*",
        move |_| {
            Some(Reply::json(
                json!({ "auth_chain_ids": auth_chain_ids, "pdu_ids": pdu_ids }),
            ))
        },
    );

    let transaction = peer
        .send_transaction(&myelin, vec![send_txn_json], vec![])
        .await;
    CorruptedChain {
        peer,
        myelin,
        alice,
        room_id,
        bob,
        profiles,
        state_ids_event,
        gme_event,
        send_txn_event,
        existing_auth_chain,
        transaction,
    }
}

impl CorruptedChain {
    /// Bob's membership content in the room's current state at Myelin.
    async fn bobs_membership(&self) -> Value {
        let (status, member) = self
            .myelin
            .get(
                &format!(
                    "/_matrix/client/v3/rooms/{}/state/m.room.member/{}",
                    encode(&self.room_id),
                    encode(&self.bob)
                ),
                Some(&self.alice.access_token),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{member}");
        member
    }

    fn federation_requests(&self) -> String {
        self.peer
            .requests()
            .iter()
            .filter(|request| {
                request
                    .segments
                    .get(1)
                    .is_some_and(|part| part == "federation")
            })
            .map(|request| format!("{} {} {}\n", request.method, request.uri, request.body))
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn corrupted_auth_chains_are_not_accepted() {
    let scenario = send_corrupted_chain().await;
    let peer = &scenario.peer;
    let (status, answer) = &scenario.transaction;
    assert_eq!(*status, StatusCode::OK, "{answer}");
    peer.wait_for_request(
        &Method::POST,
        "/_matrix/federation/v1/get_missing_events/*",
        5,
    )
    .await;
    peer.wait_for_request(&Method::GET, "/_matrix/federation/v1/state_ids/*", 5)
        .await;
    let b = &scenario.profiles[1];
    peer.wait_until("a request for event B", 5, |requests| {
        requests.iter().any(|request| {
            request.matches(&Method::GET, "/_matrix/federation/v1/event/*")
                && request.segments[4] == *b
        })
    })
    .await;
    // Complement lets things settle.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;

    let member = scenario.bobs_membership().await;
    let requests = scenario.federation_requests();
    let displayname = member["displayname"].as_str().unwrap_or_default();
    assert!(
        !["C", "D", "E"].contains(&displayname),
        "events C/D/E were accepted though B could not be fetched: {member}\n{requests}"
    );
    // Complement expects bob's join from before the profile changes (it allows that A could be
    // argued for).
    assert_eq!(member.get("displayname"), None, "{member}\n{requests}");
    peer.assert_every_request_verified();
}

/// Complement's handlers assert what they are asked: `get_missing_events` from the event sent,
/// `state_ids` at the missing prev event of the one `get_missing_events` returned (Synapse's
/// way); an unexpected request fails the test there.
#[tokio::test(flavor = "multi_thread")]
async fn corrupted_auth_chain_requests_are_those_complement_expects() {
    let scenario = send_corrupted_chain().await;
    let peer = &scenario.peer;
    let requests = scenario.federation_requests();
    let missing_events =
        peer.requests_to(&Method::POST, "/_matrix/federation/v1/get_missing_events/*");
    assert!(!missing_events.is_empty(), "{requests}");
    for request in missing_events {
        assert_eq!(
            request.body["latest_events"],
            json!([scenario.send_txn_event]),
            "get_missing_events for another event than sendTxnEvent \
             (gmeEvent is {}):\n{requests}",
            scenario.gme_event
        );
    }
    let state_ids = peer.requests_to(&Method::GET, "/_matrix/federation/v1/state_ids/*");
    assert!(!state_ids.is_empty(), "{requests}");
    for request in state_ids {
        assert_eq!(
            request.query_param("event_id"),
            Some(scenario.state_ids_event.as_str()),
            "state_ids at another event than stateIDsEvent (gmeEvent is {}, sendTxnEvent {}):\n{requests}",
            scenario.gme_event,
            scenario.send_txn_event
        );
    }
}

/// The hole stays a hole: E, whose auth chain cannot be checked, must not become state later
/// either, when another event's `state_ids` names it and leaves A–D out.
#[tokio::test(flavor = "multi_thread")]
async fn an_event_whose_auth_chain_has_a_hole_never_becomes_state() {
    let scenario = send_corrupted_chain().await;
    let peer = &scenario.peer;
    let room_id = &scenario.room_id;
    let bob = &scenario.bob;
    let e = &scenario.profiles[4];
    // X follows an event Myelin cannot fetch; the state before X has E as bob's membership.
    let (unknown, _) = peer.build_event(
        room_id,
        PeerEvent::message(bob, "never served").with_prev_events([scenario.send_txn_event.clone()]),
    );
    peer.withhold(&unknown);
    let (x, x_json) = peer.build_event(
        room_id,
        PeerEvent::message(bob, "X").with_prev_events([unknown]),
    );
    peer.on(
        Method::POST,
        "/_matrix/federation/v1/get_missing_events/*",
        |_| Some(Reply::json(json!({ "events": [] }))),
    );
    let pdu_ids = state_with_member(&peer.current_state(room_id), bob, e);
    let auth_chain_ids = scenario.existing_auth_chain.clone();
    peer.on(
        Method::GET,
        "/_matrix/federation/v1/state_ids/*",
        move |_| {
            Some(Reply::json(
                json!({ "auth_chain_ids": auth_chain_ids, "pdu_ids": pdu_ids }),
            ))
        },
    );
    let (status, answer) = peer
        .send_transaction(&scenario.myelin, vec![x_json], vec![])
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    let member = scenario.bobs_membership().await;
    let displayname = member["displayname"].as_str().unwrap_or_default();
    assert!(
        !["C", "D", "E"].contains(&displayname),
        "bob's membership became {member} (X {x}: {answer})\n{}",
        scenario.federation_requests()
    );
}
