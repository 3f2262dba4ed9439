//! Forged and invalid federation traffic is refused: requests signed with the wrong key or not
//! at all, events with bad signatures, bad content hashes (kept redacted), senders without a
//! member in the room, events the authorization rules forbid, oversize transactions.

use reqwest::StatusCode;
use ruma::{CanonicalJsonValue, RoomId, UserId, signatures::Ed25519KeyPair};
use serde_json::{Value, json};

use crate::{common::TestServer, federation_helpers::*};

#[tokio::test(flavor = "multi_thread")]
async fn requests_must_carry_a_valid_signature() {
    let (a, b, _, bob, room_id) = setup().await;
    let (_, good) = event_from(
        &b,
        &room_id,
        &bob.user_id,
        "m.room.message",
        None,
        json!({ "msgtype": "m.text", "body": "signed right" }),
    );

    // Signed with a key that is not the origin's.
    let stranger = Ed25519KeyPair::from_der(
        &Ed25519KeyPair::generate(),
        b.server().services().keys.key_pair.version().to_owned(),
    )
    .expect("key");
    let (status, body) = send_transaction(
        &b,
        &a,
        vec![serde_json::to_value(&good).expect("json")],
        Some(&stranger),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["errcode"], "M_UNAUTHORIZED");

    // No signature at all.
    let address = a.server().federation_addr.expect("federation");
    let response = http()
        .put(format!(
            "https://{address}/_matrix/federation/v1/send/unsigned1"
        ))
        .json(&json!({ "origin": b.server_name(), "origin_server_ts": 1, "pdus": [good] }))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["errcode"], "M_UNAUTHORIZED");

    // The properly signed request goes through.
    let (status, body) = send_transaction(
        &b,
        &a,
        vec![serde_json::to_value(&good).expect("json")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let results = body["pdus"].as_object().expect("pdus");
    assert!(
        results
            .values()
            .all(|result| result.as_object().is_some_and(|r| r.is_empty())),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_events_are_refused_and_bad_hashes_redacted() {
    let (a, b, alice, bob, room_id) = setup().await;

    // A bad signature: content-independent fields changed after signing.
    let (_, mut forged) = event_from(
        &b,
        &room_id,
        &bob.user_id,
        "m.room.message",
        None,
        json!({ "msgtype": "m.text", "body": "forged" }),
    );
    forged.insert(
        "origin_server_ts".into(),
        CanonicalJsonValue::Integer(1_000.into()),
    );
    // A bad content hash: the content changed after hashing (signatures still hold).
    let (_, mut tampered) = event_from(
        &b,
        &room_id,
        &bob.user_id,
        "m.room.message",
        None,
        json!({ "msgtype": "m.text", "body": "original" }),
    );
    tampered.insert(
        "content".into(),
        serde_json::from_value(json!({ "msgtype": "m.text", "body": "tampered" }))
            .expect("content"),
    );
    // A sender who is not in the room.
    let mallory = format!("@mallory:{}", b.server_name());
    let (_, outsider) = event_from(
        &b,
        &room_id,
        &mallory,
        "m.room.message",
        None,
        json!({ "msgtype": "m.text", "body": "from outside" }),
    );
    // An event the authorization rules forbid: Bob (power 0) renames the room.
    let (_, rename) = event_from(
        &b,
        &room_id,
        &bob.user_id,
        "m.room.name",
        Some(""),
        json!({ "name": "Bob's room now" }),
    );

    let pdus: Vec<Value> = [&forged, &tampered, &outsider, &rename]
        .iter()
        .map(|event| serde_json::to_value(event).expect("json"))
        .collect();
    let (status, body) = send_transaction(&b, &a, pdus, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let results = body["pdus"].as_object().expect("pdus");
    let errors: Vec<&str> = results
        .values()
        .filter_map(|result| result["error"].as_str())
        .collect();
    assert_eq!(
        errors.len(),
        3,
        "forged, outsider and rename are refused: {body}"
    );
    assert!(
        errors.iter().any(|error| error.contains("signature")),
        "the forgery is named: {body}"
    );
    assert!(
        errors.iter().any(|error| error.contains("not allowed")),
        "auth failures are named: {body}"
    );

    // A server with no member in the room at all.
    let (c, _) = TestServer::start_federated().await;
    let eve = format!("@eve:{}", c.server_name());
    let rooms = &b.server().services().rooms;
    let spec = myelin_core::rooms::EventSpec::message(
        "m.room.message",
        json!({ "msgtype": "m.text", "body": "from a stranger server" }),
    );
    let (version, template) = rooms
        .event_template(
            &RoomId::parse(&room_id).expect("room id"),
            &UserId::parse(&eve).expect("user id"),
            &spec,
        )
        .expect("template");
    let stranger = c
        .server()
        .services()
        .rooms
        .sign_template(&version, template)
        .expect("signed");
    let (status, body) = send_transaction(
        &c,
        &a,
        vec![serde_json::to_value(&stranger.object).expect("json")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["pdus"][stranger.event_id.as_str()]["error"].is_string(),
        "{body}"
    );

    let bodies = room_bodies(&a, &alice, &room_id).await;
    for refused in ["forged", "from outside", "from a stranger server"] {
        assert!(
            !bodies.contains(&refused.to_owned()),
            "{refused} must not be in {bodies:?}"
        );
    }
    assert!(!bodies.contains(&"tampered".to_owned()) && !bodies.contains(&"original".to_owned()));
    let (_, name) = a
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.name/"),
            Some(&alice.access_token),
        )
        .await;
    assert_ne!(name["name"], "Bob's room now");

    // The tampered message is in the room, redacted: its content is gone.
    let (_, messages) = a
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=100"),
            Some(&alice.access_token),
        )
        .await;
    let redacted = messages["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .find(|event| event["type"] == "m.room.message" && event["sender"] == bob.user_id.as_str())
        .expect("the tampered event, kept redacted");
    assert_eq!(redacted["content"], json!({}));
}

#[tokio::test(flavor = "multi_thread")]
async fn oversize_transactions_are_refused_whole() {
    let (a, b, alice, bob, room_id) = setup().await;
    let pdus: Vec<Value> = (0..51)
        .map(|n| {
            let (_, event) = event_from(
                &b,
                &room_id,
                &bob.user_id,
                "m.room.message",
                None,
                json!({ "msgtype": "m.text", "body": format!("bulk {n}") }),
            );
            serde_json::to_value(event).expect("json")
        })
        .collect();
    let (status, body) = send_transaction(&b, &a, pdus, None).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["errcode"], "M_TOO_LARGE");
    assert!(
        room_bodies(&a, &alice, &room_id)
            .await
            .iter()
            .all(|body| !body.starts_with("bulk"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_come_through_a_notary_when_configured_and_certificates_are_checked_by_default() {
    let (a, _) = TestServer::start_federated().await;
    let (b, _) = TestServer::start_federated().await;
    let notary = a.server_name();
    // C knows only the notary; its requests to B still need B's keys, and B needs C's.
    let port = crate::common::free_port();
    let c = TestServer::start_with(|config| {
        crate::common::federated(config, port);
        config.federation.trusted_key_servers = vec![myelin_core::config::TrustedKeyServer {
            server_name: notary.clone(),
            verify_keys: Default::default(),
        }];
    })
    .await;
    let bob = b.register("bob").await;
    let carol = c.register("carol").await;
    let room_id = b
        .create_room(&bob, json!({ "preset": "public_chat" }))
        .await;
    // B's server makes the first request to C (the invite) so C must check B's signature with
    // keys fetched through the notary.
    let invited = b.invite(&bob, &room_id, &carol).await;
    assert_eq!(invited.0, StatusCode::OK, "{}", invited.1);

    // The notary's answer carries B's own signature and the notary's.
    let address = a.server().federation_addr.expect("federation");
    let response = http()
        .get(format!(
            "https://{address}/_matrix/key/v2/query/{}",
            b.server_name()
        ))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.expect("json");
    let document = &answer["server_keys"][0];
    assert_eq!(
        document["server_name"],
        b.server_name().as_str(),
        "{answer}"
    );
    let signatures = document["signatures"].as_object().expect("signatures");
    assert!(
        signatures.contains_key(&b.server_name()) && signatures.contains_key(&notary),
        "{answer}"
    );

    // A server that verifies certificates (the default) refuses self-signed peers.
    let strict = TestServer::start_with(|config| {
        let port = crate::common::free_port();
        crate::common::federated(config, port);
        config.federation.verify_certificates = true;
    })
    .await;
    let dave = strict.register("dave").await;
    let refused = strict
        .post(
            &format!("/_matrix/client/v3/join/{room_id}?via={}", b.server_name()),
            Some(&dave.access_token),
            json!({}),
        )
        .await;
    assert_eq!(refused.0, StatusCode::BAD_GATEWAY, "{}", refused.1);
    assert!(
        refused.1["error"]
            .as_str()
            .is_some_and(|error| error.contains("certificate") || error.contains("reached")),
        "{}",
        refused.1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn events_allowed_before_but_not_now_are_soft_failed() {
    let (a, b, alice, bob, room_id) = setup().await;
    // Bob's server builds a message while Bob is still in the room...
    let (late_id, late) = event_from(
        &b,
        &room_id,
        &bob.user_id,
        "m.room.message",
        None,
        json!({ "msgtype": "m.text", "body": "sent before the ban arrived" }),
    );
    // ...Alice bans him, and only then does the message reach her server.
    let banned = a
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/ban"),
            Some(&alice.access_token),
            json!({ "user_id": bob.user_id }),
        )
        .await;
    assert_eq!(banned.0, StatusCode::OK, "{}", banned.1);
    let (status, body) = send_transaction(
        &b,
        &a,
        vec![serde_json::to_value(&late).expect("json")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["pdus"][&late_id],
        json!({}),
        "soft failure is not a rejection: {body}"
    );
    assert!(
        !room_bodies(&a, &alice, &room_id)
            .await
            .contains(&"sent before the ban arrived".to_owned())
    );
    let (status, event) = a
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=5"),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let latest = &event["chunk"][0];
    assert_eq!(
        (
            latest["type"].as_str(),
            latest["content"]["membership"].as_str()
        ),
        (Some("m.room.member"), Some("ban"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn denied_domains_are_refused_both_ways() {
    let (a, _) = TestServer::start_federated().await;
    let denied = a.server_name();
    let port = crate::common::free_port();
    let b = TestServer::start_with(|config| {
        crate::common::federated(config, port);
        config.federation.domain_denylist = vec![denied.clone()];
    })
    .await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let room_id = b
        .create_room(
            &bob,
            json!({ "preset": "public_chat", "room_version": "11" }),
        )
        .await;
    // A's requests are refused by B...
    let refused = a
        .post(
            &format!("/_matrix/client/v3/join/{room_id}?via={}", b.server_name()),
            Some(&alice.access_token),
            json!({}),
        )
        .await;
    assert_eq!(refused.0, StatusCode::FORBIDDEN, "{}", refused.1);
    // ...and B does not talk to A either.
    let (status, profile) = b
        .get(
            &format!("/_matrix/client/v3/profile/{}", alice.user_id),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{profile}");
    assert!(
        profile["error"]
            .as_str()
            .is_some_and(|error| error.contains("not allowed")),
        "{profile}"
    );
}

/// An event `sender` on `origin` would build, with `extra_auth` in its auth events (in place
/// of `replacing`, when given), signed by `origin`: (event id, the event as JSON, the event as
/// stored).
#[allow(clippy::too_many_arguments)]
fn event_with_auth(
    origin: &TestServer,
    room_id: &str,
    sender: &str,
    kind: &str,
    state_key: Option<&str>,
    content: Value,
    extra_auth: &[&str],
    replacing: Option<&str>,
) -> (String, Value, myelin_core::rooms::RemoteEvent) {
    let rooms = &origin.server().services().rooms;
    let room = RoomId::parse(room_id).expect("room id");
    let sender = UserId::parse(sender).expect("user id");
    let spec = myelin_core::rooms::EventSpec {
        kind: kind.into(),
        state_key: state_key.map(str::to_owned),
        content,
        redacts: None,
        timestamp: None,
    };
    let (version, mut template) = rooms
        .event_template(&room, &sender, &spec)
        .expect("template");
    if let Some(CanonicalJsonValue::Array(auth)) = template.get_mut("auth_events") {
        if let Some(replacing) = replacing {
            auth.retain(|id| id.as_str() != Some(replacing));
        }
        auth.extend(
            extra_auth
                .iter()
                .map(|id| CanonicalJsonValue::String((*id).to_owned())),
        );
    }
    let event = rooms.sign_template(&version, template).expect("signed");
    let json = serde_json::to_value(&event.object).expect("json");
    (event.event_id.to_string(), json, event)
}

/// An event whose auth events include a rejected one is rejected, and so is every event
/// citing it, wherever the server got it from (a transaction, or `/event` while fetching
/// auth events) [Complement TestInboundFederationRejectsEventsWithRejectedAuthEvents].
#[tokio::test(flavor = "multi_thread")]
async fn events_citing_rejected_auth_events_are_rejected() {
    let (a, b, alice, bob, room_id) = setup().await;
    // R: Bob, without power, changes the power levels: rejected.
    let (rejected_id, rejected, _) = event_with_auth(
        &b,
        &room_id,
        &bob.user_id,
        "m.room.power_levels",
        Some(""),
        json!({ "users": {} }),
        &[],
        None,
    );
    let (status, answer) = send_transaction(&b, &a, vec![rejected], None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(
        answer["pdus"][&rejected_id]["error"].is_string(),
        "the power levels change is refused: {answer}"
    );
    // O: Bob's member event citing R; never sent, only served by Bob's server.
    let (outlier_id, _, outlier) = event_with_auth(
        &b,
        &room_id,
        &bob.user_id,
        "m.room.member",
        Some(&bob.user_id),
        json!({ "membership": "join", "test": 1 }),
        &[&rejected_id],
        None,
    );
    b.server()
        .services()
        .rooms
        .store_outliers(std::slice::from_ref(&outlier))
        .await
        .expect("stored on Bob's server");
    // A message citing O as Bob's membership (in place of his real join), then a plain one.
    let (_, state) = a
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/state"),
            Some(&alice.access_token),
        )
        .await;
    let bob_join = state
        .as_array()
        .expect("state")
        .iter()
        .find(|event| {
            event["type"] == "m.room.member" && event["state_key"] == bob.user_id.as_str()
        })
        .and_then(|event| event["event_id"].as_str())
        .expect("bob's join")
        .to_owned();
    let (cited_id, cited, _) = event_with_auth(
        &b,
        &room_id,
        &bob.user_id,
        "m.room.message",
        None,
        json!({ "msgtype": "m.text", "body": "cites the outlier" }),
        &[&outlier_id],
        Some(&bob_join),
    );
    let (status, answer) = send_transaction(&b, &a, vec![cited], None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let sentinel = b.send_text(&bob, &room_id, "sentinel").await;
    a.sync_until(&alice, 15, |syncs| {
        crate::common::timeline_events(syncs, &room_id)
            .iter()
            .any(|event| event["event_id"] == sentinel.as_str())
    })
    .await;
    for id in [&rejected_id, &outlier_id, &cited_id] {
        let (status, body) = a
            .get(
                &format!("/_matrix/client/v3/rooms/{room_id}/event/{id}"),
                Some(&alice.access_token),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}: {body}");
    }
}
