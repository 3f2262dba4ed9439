//! Rooms shared between Myelin servers over real federation on loopback (TLS, signed requests,
//! key fetching, joins, transactions, EDUs).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestServer, TestUser, message_bodies, timeline_events};

async fn join_via(
    server: &TestServer,
    user: &TestUser,
    room_id: &str,
    via: &str,
) -> (StatusCode, Value) {
    server
        .post(
            &format!("/_matrix/client/v3/join/{room_id}?via={via}"),
            Some(&user.access_token),
            json!({}),
        )
        .await
}

fn bodies_in(syncs: &Value, room_id: &str) -> Vec<String> {
    message_bodies(&Value::Array(timeline_events(syncs, room_id)))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_remote_user_joins_and_messages_cross_both_ways() {
    let (a, _) = TestServer::start_federated().await;
    let (b, _) = TestServer::start_federated().await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let room_id = a
        .create_room(&alice, json!({ "preset": "public_chat", "name": "Across" }))
        .await;
    a.send_text(&alice, &room_id, "before bob").await;

    let joined = join_via(&b, &bob, &room_id, &a.server_name()).await;
    assert_eq!(joined.0, StatusCode::OK, "{}", joined.1);
    assert_eq!(joined.1["room_id"], room_id.as_str());

    // Bob's server knows the room now: its name, and both members.
    let (status, members) = b
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/joined_members"),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{members}");
    let joined = members["joined"].as_object().expect("joined");
    assert!(
        joined.contains_key(&alice.user_id) && joined.contains_key(&bob.user_id),
        "{members}"
    );
    let (status, name) = b
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.name/"),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(
        (status, name["name"].clone()),
        (StatusCode::OK, json!("Across"))
    );

    // Alice's server saw the join.
    a.sync_until(&alice, 10, |syncs| {
        timeline_events(syncs, &room_id).iter().any(|event| {
            event["type"] == "m.room.member"
                && event["state_key"] == bob.user_id.as_str()
                && event["content"]["membership"] == "join"
        })
    })
    .await;

    a.send_text(&alice, &room_id, "hello bob").await;
    let seen = b
        .sync_until(&bob, 10, |syncs| {
            bodies_in(syncs, &room_id).contains(&"hello bob".to_owned())
        })
        .await;
    let from_alice = timeline_events(&seen, &room_id)
        .into_iter()
        .find(|event| event["content"]["body"] == "hello bob")
        .expect("message");
    assert_eq!(from_alice["sender"], alice.user_id.as_str());

    b.send_text(&bob, &room_id, "hello alice").await;
    a.sync_until(&alice, 10, |syncs| {
        bodies_in(syncs, &room_id).contains(&"hello alice".to_owned())
    })
    .await;
}
