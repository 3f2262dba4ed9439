//! Every room version Myelin serves, created locally and shared over federation: event ids in
//! the version's format, authorization, redaction and joins by its rules (ruma's rules for each
//! version), as rooms of every version exist on the network.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    common::{TestServer, TestUser, timeline_events},
    federation_helpers::join_via,
};

/// Versions 2 to 12: ids made up by the sender (`$id:server`) in v2, reference hashes after
/// (standard base64 in v3, url-safe later).
const VERSIONS: [&str; 11] = ["2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"];

/// A path segment percent-encoded as clients send it (v3 event ids hold `/` and `+`).
fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

async fn send(server: &TestServer, user: &TestUser, room_id: &str, body: &str) -> String {
    server.send_text(user, room_id, body).await
}

async fn event(server: &TestServer, user: &TestUser, room_id: &str, event_id: &str) -> Value {
    let (status, event) = server
        .get(
            &format!(
                "/_matrix/client/v3/rooms/{}/event/{}",
                encode(room_id),
                encode(event_id)
            ),
            Some(&user.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{event_id}: {event}");
    event
}

/// `/capabilities` lists every version as stable, with the configured default.
#[tokio::test]
async fn capabilities_list_every_version_as_stable() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let (_, capabilities) = server
        .get("/_matrix/client/v3/capabilities", Some(&alice.access_token))
        .await;
    let versions = &capabilities["capabilities"]["m.room_versions"];
    assert_eq!(versions["default"], "12");
    for version in VERSIONS {
        assert_eq!(versions["available"][version], "stable", "{versions}");
    }
}

/// In each version: the room is created with it, messages and state are sent, a member joins
/// and is redacted by the version's algorithm, and the event ids have the version's format.
#[tokio::test]
async fn rooms_of_every_version_work_locally() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    for version in VERSIONS {
        let room_id = server
            .create_room(
                &alice,
                json!({ "preset": "public_chat", "room_version": version, "name": format!("v{version}") }),
            )
            .await;
        let (_, create) = server
            .get(
                &format!(
                    "/_matrix/client/v3/rooms/{}/state/m.room.create/",
                    encode(&room_id)
                ),
                Some(&alice.access_token),
            )
            .await;
        assert_eq!(create["room_version"], version, "{create}");
        // Versions before 11 name the creator in the create event.
        let numeric: u32 = version.parse().expect("a number");
        assert_eq!(
            create.get("creator").is_some(),
            numeric < 11,
            "v{version}: {create}"
        );
        assert_eq!(
            server.join(&bob, &room_id).await.0,
            StatusCode::OK,
            "v{version}"
        );
        let message = send(&server, &bob, &room_id, &format!("hello in v{version}")).await;
        if numeric == 2 {
            let suffix = format!(":{}", server.server_name());
            assert!(
                message.starts_with('$') && message.ends_with(&suffix),
                "{message}"
            );
        } else {
            assert!(
                message.starts_with('$') && !message.contains(':'),
                "{message}"
            );
        }
        if numeric == 2 {
            // The sender's own id.
        } else if numeric == 3 {
            // Standard base64: 43 characters of [A-Za-z0-9+/].
            assert!(
                message[1..]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/'),
                "{message}"
            );
        } else {
            assert!(
                !message.contains('+') && !message.contains('/'),
                "{message}"
            );
        }
        let fetched = event(&server, &alice, &room_id, &message).await;
        assert_eq!(fetched["content"]["body"], format!("hello in v{version}"));

        // Redaction: the message loses its body, in every version.
        let (status, redaction) = server
            .put(
                &format!(
                    "/_matrix/client/v3/rooms/{}/redact/{}/r{version}",
                    encode(&room_id),
                    encode(&message)
                ),
                Some(&alice.access_token),
                json!({ "reason": "test" }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "v{version}: {redaction}");
        let redacted = event(&server, &bob, &room_id, &message).await;
        assert_eq!(redacted["content"], json!({}), "v{version}: {redacted}");

        // Power levels as the version reads them; a state change by the creator goes through.
        let (status, body) = server
            .put(
                &format!(
                    "/_matrix/client/v3/rooms/{}/state/m.room.topic/",
                    encode(&room_id)
                ),
                Some(&alice.access_token),
                json!({ "topic": format!("topic {version}") }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "v{version}: {body}");
        // Bob has power 0: his topic change is refused by the rules.
        let (status, body) = server
            .put(
                &format!(
                    "/_matrix/client/v3/rooms/{}/state/m.room.topic/",
                    encode(&room_id)
                ),
                Some(&bob.access_token),
                json!({ "topic": "not allowed" }),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "v{version}: {body}");
    }
}

/// Knocking exists from version 7 and restricted joins from 8: earlier versions refuse the join
/// rule, later ones follow it.
#[tokio::test]
async fn knocking_and_restricted_joins_follow_the_version() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    for version in VERSIONS {
        let numeric: u32 = version.parse().expect("a number");
        let room_id = server
            .create_room(&alice, json!({ "room_version": version }))
            .await;
        let (status, body) = server
            .put(
                &format!(
                    "/_matrix/client/v3/rooms/{}/state/m.room.join_rules/",
                    encode(&room_id)
                ),
                Some(&alice.access_token),
                json!({ "join_rule": "knock" }),
            )
            .await;
        if numeric < 7 {
            // The rule is not one the version knows; the room stays invite-only.
            assert_eq!(status, StatusCode::OK, "v{version}: {body}");
        }
        let (status, body) = server
            .post(
                &format!("/_matrix/client/v3/knock/{}", encode(&room_id)),
                Some(&bob.access_token),
                json!({}),
            )
            .await;
        if numeric >= 7 {
            assert_eq!(status, StatusCode::OK, "v{version}: {body}");
        } else {
            assert_eq!(status, StatusCode::FORBIDDEN, "v{version}: {body}");
        }
    }
}

/// Rooms of older versions shared between two servers: the remote join, messages both ways,
/// and a redaction that reaches the other server.
#[tokio::test(flavor = "multi_thread")]
async fn older_versions_federate() {
    let (a, _) = TestServer::start_federated().await;
    let (b, _) = TestServer::start_federated().await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    for version in ["2", "3", "6", "9"] {
        let room_id = a
            .create_room(
                &alice,
                json!({ "preset": "public_chat", "room_version": version }),
            )
            .await;
        let from_alice = a
            .send_text(&alice, &room_id, &format!("before bob v{version}"))
            .await;
        let joined = join_via(&b, &bob, &room_id, &a.server_name()).await;
        assert_eq!(joined.0, StatusCode::OK, "v{version}: {}", joined.1);
        let from_bob = b
            .send_text(&bob, &room_id, &format!("from bob v{version}"))
            .await;
        a.sync_until(&alice, 15, |syncs| {
            timeline_events(syncs, &room_id)
                .iter()
                .any(|event| event["event_id"] == from_bob.as_str())
        })
        .await;
        let (status, body) = a
            .put(
                &format!(
                    "/_matrix/client/v3/rooms/{}/redact/{}/fed{version}",
                    encode(&room_id),
                    encode(&from_alice)
                ),
                Some(&alice.access_token),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "v{version}: {body}");
        let redaction = body["event_id"].as_str().expect("event_id").to_owned();
        b.sync_until(&bob, 15, |syncs| {
            timeline_events(syncs, &room_id)
                .iter()
                .any(|event| event["event_id"] == redaction.as_str())
        })
        .await;
        // Paging back fetches the earlier history from Alice's server, redacted.
        let (status, history) = b
            .get(
                &format!(
                    "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=50",
                    encode(&room_id)
                ),
                Some(&bob.access_token),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "v{version}: {history}");
        let seen = history["chunk"]
            .as_array()
            .expect("chunk")
            .iter()
            .find(|event| event["event_id"] == from_alice.as_str())
            .cloned()
            .unwrap_or_else(|| panic!("v{version}: the first message in {history}"));
        assert_eq!(seen["content"], json!({}), "v{version}: {seen}");
    }
}
