//! Small endpoints clients call on their settings and profile pages: TURN servers, third-party
//! identifiers, rooms shared with a user.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{TestServer, assert_error};

#[tokio::test(flavor = "multi_thread")]
async fn turn_credentials_come_from_the_configured_secret() {
    let plain = TestServer::start().await;
    let alice = plain.register("alice").await;
    let (status, answer) = plain
        .get(
            "/_matrix/client/v3/voip/turnServer",
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer, json!({}), "no TURN server configured");

    let server = TestServer::start_with(|config| {
        config.voip.turn_uris = vec!["turn:127.0.0.1:3478?transport=udp".into()];
        config.voip.turn_shared_secret = Some("coturn secret".into());
        config.voip.turn_user_lifetime_secs = 600;
    })
    .await;
    let alice = server.register("alice").await;
    let (status, answer) = server
        .get(
            "/_matrix/client/v3/voip/turnServer",
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["uris"], json!(["turn:127.0.0.1:3478?transport=udp"]));
    assert_eq!(answer["ttl"], 600);
    let username = answer["username"].as_str().expect("username");
    let (expiry, user) = username.split_once(':').expect("expiry:user");
    assert_eq!(user, alice.user_id);
    let now = myelin_core::users::now_ms() / 1000;
    let expiry: u64 = expiry.parse().expect("expiry");
    assert!(
        (now + 590..=now + 610).contains(&expiry),
        "{expiry} vs {now}"
    );
    assert_eq!(
        answer["password"].as_str().map(str::len),
        Some(28),
        "{answer}"
    );
    let (status, _) = server.get("/_matrix/client/v3/voip/turnServer", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread")]
async fn third_party_ids_are_empty_and_mutual_rooms_are_the_shared_ones() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let (status, answer) = server
        .get("/_matrix/client/v3/account/3pid", Some(&alice.access_token))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer, json!({ "threepids": [] }));

    let mut shared = BTreeSet::new();
    for _ in 0..2 {
        let room = server
            .create_room(&alice, json!({ "invite": [bob.user_id] }))
            .await;
        assert_eq!(server.join(&bob, &room).await.0, StatusCode::OK);
        shared.insert(room);
    }
    server.create_room(&bob, json!({})).await;
    server.create_room(&alice, json!({})).await;
    let path = format!("/_matrix/client/v1/mutual_rooms?user_id={}", bob.user_id);
    let (status, answer) = server.get(&path, Some(&alice.access_token)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["count"], 2);
    let joined: BTreeSet<String> = answer["joined"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|room| room.as_str().map(str::to_owned))
        .collect();
    assert_eq!(joined, shared);
    let own = server
        .get(
            &format!("/_matrix/client/v1/mutual_rooms?user_id={}", alice.user_id),
            Some(&alice.access_token),
        )
        .await;
    assert_error(&own, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
}

#[tokio::test(flavor = "multi_thread")]
async fn room_summaries_preview_rooms_the_caller_may_see() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let public = server
        .create_room(
            &alice,
            json!({ "preset": "public_chat", "room_alias_name": "lobby", "name": "Lobby", "topic": "say hi" }),
        )
        .await;
    let private = server
        .create_room(&alice, json!({ "name": "Secret" }))
        .await;
    let alias = format!("%23lobby:{}", server.server_name());

    for token in [Some(bob.access_token.as_str()), None] {
        let (status, summary) = server
            .get(&format!("/_matrix/client/v1/room_summary/{alias}"), token)
            .await;
        assert_eq!(status, StatusCode::OK, "{summary}");
        assert_eq!(summary["room_id"], public.as_str());
        assert_eq!(summary["name"], "Lobby");
        assert_eq!(summary["topic"], "say hi");
        assert_eq!(summary["join_rule"], "public");
        assert_eq!(summary["num_joined_members"], 1);
        let version = server.server().services().rooms.default_room_version();
        assert_eq!(summary["room_version"], version.as_str());
        assert!(summary.get("membership").is_none(), "{summary}");
        // Invite-only rooms are hidden from non-members, as if they did not exist.
        let hidden = server
            .get(&format!("/_matrix/client/v1/room_summary/{private}"), token)
            .await;
        assert_error(&hidden, StatusCode::NOT_FOUND, "M_NOT_FOUND");
    }
    let (status, summary) = server
        .get(
            &format!("/_matrix/client/v1/room_summary/{private}"),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_eq!(summary["name"], "Secret");
    assert_eq!(summary["membership"], "join");
}
