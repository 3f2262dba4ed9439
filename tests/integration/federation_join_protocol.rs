//! The join and leave protocol between servers: the first versions of send_join and send_leave,
//! templates refused to banned users, a joining server leaving its join to the resident.
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{common::TestServer, federation_helpers::*};

/// A template from `destination`'s `make_{kind}` for `user` on `origin`, signed by `origin`
/// after `edit`; (event id, event).
async fn signed_from_template(
    origin: &TestServer,
    destination: &TestServer,
    kind: &str,
    room_id: &str,
    user: &str,
    edit: impl FnOnce(&mut Value),
) -> (String, Value) {
    let (status, answer) = federation_get_as(
        origin,
        destination,
        &format!("/_matrix/federation/v1/make_{kind}/{room_id}/{user}?ver=10&ver=11&ver=12"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "make_{kind}: {answer}");
    let mut template = answer["event"].clone();
    edit(&mut template);
    let version = ruma::RoomVersionId::try_from(answer["room_version"].as_str().unwrap_or("12"))
        .expect("version");
    let object: ruma::CanonicalJsonObject = serde_json::from_value(template).expect("object");
    let event = origin
        .server()
        .services()
        .rooms
        .sign_template(&version, object)
        .expect("signed");
    (
        event.event_id.to_string(),
        serde_json::to_value(&event.object).expect("json"),
    )
}

/// The first versions of `send_join` and `send_leave` are served as Synapse serves them, in
/// their `[200, …]` shape; each takes only its own kind of event, of the sending server's own
/// user, and refuses the rest with 400 [Complement TestCannotSendNonJoinViaSendJoinV1,
/// TestCannotSendNonLeaveViaSendLeaveV1].
#[tokio::test(flavor = "multi_thread")]
async fn first_versions_of_send_join_and_send_leave_take_only_their_kind() {
    let (a, _) = TestServer::start_federated().await;
    let (b, _) = TestServer::start_federated().await;
    let alice = a.register("alice").await;
    let bob = format!("@bob:{}", b.server_name());
    let room_id = a
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    let put = async |endpoint: &str, event_id: &str, event: &Value| {
        federation_request_as(
            &b,
            &a,
            "PUT",
            &format!("/_matrix/federation/v1/{endpoint}/{room_id}/{event_id}"),
            Some(event),
        )
        .await
    };
    // Wrong kinds through send_join: a leave, a message, someone else's join.
    let (leave_id, leave) = signed_from_template(&b, &a, "join", &room_id, &bob, |event| {
        event["content"]["membership"] = "leave".into();
    })
    .await;
    let (status, answer) = put("send_join", &leave_id, &leave).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(answer["errcode"].is_string(), "{answer}");
    let (message_id, message) = signed_from_template(&b, &a, "join", &room_id, &bob, |event| {
        event["type"] = "m.room.message".into();
        event.as_object_mut().expect("object").remove("state_key");
        event["content"] = json!({ "body": "bzz" });
    })
    .await;
    assert_eq!(
        put("send_join", &message_id, &message).await.0,
        StatusCode::BAD_REQUEST
    );
    let doris = format!("@doris:{}", b.server_name());
    let (other_id, other) = signed_from_template(&b, &a, "join", &room_id, &bob, |event| {
        event["state_key"] = doris.clone().into();
    })
    .await;
    assert_eq!(
        put("send_join", &other_id, &other).await.0,
        StatusCode::BAD_REQUEST
    );

    // A real join: the v1 answer.
    let (join_id, join) = signed_from_template(&b, &a, "join", &room_id, &bob, |_| {}).await;
    let (status, answer) = put("send_join", &join_id, &join).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer[0], 200, "{answer}");
    assert_eq!(answer[1]["origin"], a.server_name().as_str(), "{answer}");
    let state = answer[1]["state"].as_array().expect("state");
    assert!(
        state.iter().any(|event| event["type"] == "m.room.create"),
        "{answer}"
    );
    assert!(answer[1]["auth_chain"].is_array(), "{answer}");

    // send_leave v1: a join is refused, a leave answered [200, {}].
    let (join2_id, join2) = signed_from_template(&b, &a, "leave", &room_id, &bob, |event| {
        event["content"]["membership"] = "join".into();
    })
    .await;
    assert_eq!(
        put("send_leave", &join2_id, &join2).await.0,
        StatusCode::BAD_REQUEST
    );
    let (leave_id, leave) = signed_from_template(&b, &a, "leave", &room_id, &bob, |_| {}).await;
    let (status, answer) = put("send_leave", &leave_id, &leave).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer, json!([200, {}]));
    let (_, members) = a
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.member/{bob}"),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(members["membership"], "leave", "{members}");
}

/// A banned user's server gets 403 from `make_join` and `make_knock`, not a template
/// [Complement TestKnocking "A user that is banned cannot knock"].
#[tokio::test(flavor = "multi_thread")]
async fn banned_users_get_no_templates() {
    let (a, _) = TestServer::start_federated().await;
    let (b, _) = TestServer::start_federated().await;
    let alice = a.register("alice").await;
    let bob = format!("@bob:{}", b.server_name());
    let room_id = a
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    let (status, body) = a
        .put(
            &format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.join_rules/"),
            Some(&alice.access_token),
            json!({ "join_rule": "knock" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Before the ban, a knock template is handed out.
    let (status, answer) = federation_get_as(
        &b,
        &a,
        &format!("/_matrix/federation/v1/make_knock/{room_id}/{bob}?ver=12"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, body) = a
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/ban"),
            Some(&alice.access_token),
            json!({ "user_id": bob, "reason": "test" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for kind in ["knock", "join"] {
        let (status, answer) = federation_get_as(
            &b,
            &a,
            &format!("/_matrix/federation/v1/make_{kind}/{room_id}/{bob}?ver=12"),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "make_{kind}: {answer}");
        assert_eq!(answer["errcode"], "M_FORBIDDEN", "{answer}");
    }
}

/// Inbound PDUs a server already had, from its metrics.
async fn pdus_already_known(server: &TestServer) -> u64 {
    let (_, metrics) = server.get("/_myelin/metrics", None).await;
    metrics
        .as_str()
        .expect("text")
        .lines()
        .find_map(|line| {
            line.strip_prefix("myelin_federation_pdus_received_total{outcome=\"already_known\"} ")
        })
        .and_then(|value| value.trim().parse().ok())
        .expect("the already_known counter")
}

/// A server that joined through `send_join` leaves the join to the resident server, which
/// sends it to the rest of the room: nobody is sent the join twice, and the first PDU the
/// joining server sends afterwards is its user's message [Complement
/// TestOutboundFederationSend].
#[tokio::test(flavor = "multi_thread")]
async fn a_joining_server_leaves_its_join_to_the_resident() {
    let (a, _) = TestServer::start_federated().await;
    let (b, _) = TestServer::start_federated().await;
    let (c, _) = TestServer::start_federated().await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let carol = c.register("carol").await;
    let room_id = a
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    let joined = join_via(&c, &carol, &room_id, &a.server_name()).await;
    assert_eq!(joined.0, StatusCode::OK, "{}", joined.1);
    let joined = join_via(&b, &bob, &room_id, &a.server_name()).await;
    assert_eq!(joined.0, StatusCode::OK, "{}", joined.1);
    let message = b.send_text(&bob, &room_id, "after joining").await;
    for (server, user) in [(&a, &alice), (&c, &carol)] {
        server
            .sync_until(user, 15, |syncs| {
                crate::common::timeline_events(syncs, &room_id)
                    .iter()
                    .any(|event| event["event_id"] == message.as_str())
            })
            .await;
    }
    // Carol's server has Bob's join (from Alice's server) and his message (from his own).
    let (_, member) = c
        .get(
            &format!(
                "/_matrix/client/v3/rooms/{room_id}/state/m.room.member/{}",
                bob.user_id
            ),
            Some(&carol.access_token),
        )
        .await;
    assert_eq!(member["membership"], "join", "{member}");
    assert_eq!(
        pdus_already_known(&a).await,
        0,
        "the resident was sent the join back"
    );
    assert_eq!(
        pdus_already_known(&c).await,
        0,
        "carol's server got the join twice"
    );
}
