//! Myelin's outbound requests verify at a peer that checks `X-Matrix` as Complement's servers do:
//! a join, messages with characters that canonical JSON treats specially, typing, a receipt, a
//! to-device message, and queries whose ids need percent-encoding.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{PeerEvent, Reply, ScriptedPeer, encode};
use crate::common::{TestServer, TestUser, timeline_events};

/// Message bodies whose canonical JSON is easy to get wrong. (Integers beyond 2^53 are not
/// canonical JSON, so there are none.)
const AWKWARD_BODIES: [&str; 6] = [
    "ünïcödé Ελληνικά 日本語 עברית",
    "emoji 🎉👩‍👩‍👧 and a lone combining mark e\u{301}",
    "markup <b>bold</b> & \"quotes\" 'single' \\ back / slash",
    "line\u{2028}separator and paragraph\u{2029}separator",
    "control characters \u{1} \u{1f} \u{7f} tab\tnewline\ncarriage\r",
    "query-like ?a=b&c=d#fragment %20 %2F +plus",
];

#[tokio::test(flavor = "multi_thread")]
async fn outbound_requests_verify_byte_for_byte() {
    let peer = ScriptedPeer::start().await;
    let (myelin, _) = TestServer::start_federated().await;
    let bob = peer.user_id("bob");
    let room_id = peer.create_room("12", "bob");
    // Every character a new localpart may have that is not a letter or digit.
    let alice = myelin.register("alice.x+y=z/w_v-u").await;
    peer.join_from(&myelin, &alice, &room_id).await;

    // The peer's user speaks, so that Myelin's user has an event of the peer's to acknowledge.
    let (bob_message_id, bob_message) =
        peer.send_event(&room_id, PeerEvent::message(&bob, "hello from the peer"));
    let (status, answer) = peer
        .send_transaction(&myelin, vec![bob_message], vec![])
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["pdus"][&bob_message_id], json!({}), "{answer}");
    myelin
        .sync_until(&alice, 10, |syncs| {
            timeline_events(syncs, &room_id)
                .iter()
                .any(|event| event["event_id"] == bob_message_id)
        })
        .await;

    let (sent_event_ids, awkward_content) = send_awkward_events(&myelin, &alice, &room_id).await;
    send_ephemeral_events(&myelin, &alice, &room_id, &bob_message_id, &bob).await;
    query_peer_users(&myelin, &alice, &peer).await;
    peer.wait_until(
        "every event, typing, the receipt and the to-device message",
        20,
        |_| {
            let edu_types: Vec<Value> = peer
                .received_edus()
                .iter()
                .map(|edu| edu["edu_type"].clone())
                .collect();
            sent_event_ids.iter().all(|id| peer.event(id).is_some())
                && ["m.typing", "m.receipt", "m.direct_to_device"]
                    .iter()
                    .all(|kind| edu_types.contains(&json!(kind)))
        },
    )
    .await;

    peer.assert_every_request_verified();
    // What arrived is what was sent.
    let pdus = peer.received_pdus();
    let bodies: Vec<&str> = pdus
        .iter()
        .filter(|pdu| pdu["type"] == "m.room.message")
        .filter_map(|pdu| pdu["content"]["body"].as_str())
        .collect();
    for body in AWKWARD_BODIES {
        assert!(bodies.contains(&body), "{body:?} missing from {bodies:?}");
    }
    let awkward = pdus
        .iter()
        .find(|pdu| pdu["type"] == "org.example.awkward")
        .expect("the awkward event");
    assert_eq!(awkward["content"], awkward_content);
    let to_device = peer
        .received_edus()
        .into_iter()
        .find(|edu| edu["edu_type"] == "m.direct_to_device")
        .expect("to-device EDU");
    assert_eq!(
        to_device["content"]["messages"][&bob]["*"]["text"],
        AWKWARD_BODIES[3]
    );
}

/// Sends the awkward messages and an event whose keys sort differently by code point than by
/// other orders; returns the events' ids and the last one's content.
async fn send_awkward_events(
    myelin: &TestServer,
    alice: &TestUser,
    room_id: &str,
) -> (Vec<String>, Value) {
    let mut sent_event_ids = Vec::new();
    for body in AWKWARD_BODIES {
        sent_event_ids.push(myelin.send_text(alice, room_id, body).await);
    }
    let content = json!({
        "msgtype": "m.text",
        "body": "keys that sort by code point",
        "nested": {
            "z": 1, "a": [true, false, null, -9_007_199_254_740_991_i64, 9_007_199_254_740_991_i64],
            "é": "", "E": {}, "日本": "\u{0}",
        },
    });
    let path = format!(
        "/_matrix/client/v3/rooms/{}/send/org.example.awkward/{}",
        encode(room_id),
        encode("txn with spaces/and?query")
    );
    let (status, response) = myelin
        .put(&path, Some(&alice.access_token), content.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{response}");
    sent_event_ids.push(response["event_id"].as_str().expect("event_id").to_owned());
    (sent_event_ids, content)
}

/// Typing, a read receipt for `receipted`, and a to-device message to `recipient`.
async fn send_ephemeral_events(
    myelin: &TestServer,
    alice: &TestUser,
    room_id: &str,
    receipted: &str,
    recipient: &str,
) {
    let room = encode(room_id);
    let to_device = json!({ "text": AWKWARD_BODIES[3], "more": AWKWARD_BODIES[1] });
    let requests = [
        (
            Method::PUT,
            format!(
                "/_matrix/client/v3/rooms/{room}/typing/{}",
                encode(&alice.user_id)
            ),
            json!({ "typing": true, "timeout": 30000 }),
        ),
        (
            Method::POST,
            format!(
                "/_matrix/client/v3/rooms/{room}/receipt/m.read/{}",
                encode(receipted)
            ),
            json!({}),
        ),
        (
            Method::PUT,
            format!(
                "/_matrix/client/v3/sendToDevice/org.example.awkward/{}",
                encode("txn ü")
            ),
            json!({ "messages": { recipient: { "*": to_device } } }),
        ),
    ];
    for (method, path, body) in requests {
        let (status, response) = myelin
            .request(method, &path, Some(&alice.access_token), Some(body))
            .await;
        assert_eq!(status, StatusCode::OK, "{path}: {response}");
    }
}

/// A profile query, a key query and an alias query about names that need escaping.
async fn query_peer_users(myelin: &TestServer, alice: &TestUser, peer: &ScriptedPeer) {
    let weird_user = peer.user_id("a+b=c/d");
    peer.on(
        Method::GET,
        "/_matrix/federation/v1/query/profile",
        |request| {
            Some(Reply::json(json!({
                "displayname": format!("profile of {}", request.query_param("user_id")?),
            })))
        },
    );
    let path = format!(
        "/_matrix/client/v3/profile/{}/displayname",
        encode(&weird_user)
    );
    let (status, profile) = myelin.get(&path, Some(&alice.access_token)).await;
    assert_eq!(status, StatusCode::OK, "{profile}");
    assert_eq!(profile["displayname"], format!("profile of {weird_user}"));

    let query = json!({ "device_keys": { weird_user.clone(): [], peer.user_id("bob"): [] } });
    let (status, keys) = myelin
        .post(
            "/_matrix/client/v3/keys/query",
            Some(&alice.access_token),
            query,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{keys}");
    let key_queries = peer.requests_to(&Method::POST, "/_matrix/federation/v1/user/keys/query");
    assert!(
        key_queries
            .iter()
            .any(|query| query.body["device_keys"].get(&weird_user).is_some()),
        "no key query for {weird_user}: {key_queries:#?}"
    );

    // The peer has no such alias; its 404 is fine, the request is what is checked.
    let alias = format!("#al+ias=ü/x?y:{}", peer.server_name());
    let path = format!("/_matrix/client/v3/directory/room/{}", encode(&alias));
    myelin.get(&path, Some(&alice.access_token)).await;
    let alias_query = peer
        .wait_for_request(&Method::GET, "/_matrix/federation/v1/query/directory", 10)
        .await;
    assert_eq!(alias_query.query_param("room_alias"), Some(alias.as_str()));
}
