//! Presence: set explicitly or by syncing, visible to users who share a room, off by config.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestServer, assert_error};

fn presence_of<'a>(sync: &'a Value, user_id: &str) -> Option<&'a Value> {
    sync["presence"]["events"]
        .as_array()?
        .iter()
        .find(|event| event["sender"] == user_id)
        .map(|event| &event["content"])
}

#[tokio::test]
async fn presence_follows_sync_and_explicit_updates_to_room_mates() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let stranger = server.register("stranger").await;
    let room = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    server.join(&bob, &room).await;

    server.sync(&alice, None, 0).await; // syncing makes alice online
    let bob_first = server.sync(&bob, None, 0).await;
    let alice_seen = presence_of(&bob_first, &alice.user_id).expect("alice's presence");
    assert_eq!(alice_seen["presence"], "online");
    assert_eq!(alice_seen["currently_active"], true);
    let since = bob_first["next_batch"].as_str().expect("token").to_owned();

    let path = format!("/_matrix/client/v3/presence/{}/status", alice.user_id);
    assert_eq!(
        server
            .put(
                &path,
                Some(&alice.access_token),
                json!({ "presence": "unavailable", "status_msg": "at lunch" })
            )
            .await
            .0,
        StatusCode::OK
    );
    let update = server.sync(&bob, Some(&since), 5_000).await;
    let alice_seen = presence_of(&update, &alice.user_id).expect("the change is pushed");
    assert_eq!(
        (
            alice_seen["presence"].as_str(),
            alice_seen["status_msg"].as_str()
        ),
        (Some("unavailable"), Some("at lunch"))
    );

    let (status, direct) = server.get(&path, Some(&bob.access_token)).await;
    assert_eq!(
        (status, direct["presence"].as_str()),
        (StatusCode::OK, Some("unavailable"))
    );
    assert_error(
        &server.get(&path, Some(&stranger.access_token)).await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    let stranger_sync = server.sync(&stranger, None, 0).await;
    assert!(
        presence_of(&stranger_sync, &alice.user_id).is_none(),
        "no shared room, no presence"
    );
    let others = format!("/_matrix/client/v3/presence/{}/status", bob.user_id);
    assert_error(
        &server
            .put(
                &others,
                Some(&alice.access_token),
                json!({ "presence": "online" }),
            )
            .await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    assert_error(
        &server
            .put(
                &path,
                Some(&alice.access_token),
                json!({ "presence": "sleeping" }),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "M_INVALID_PARAM",
    );
}

#[tokio::test]
async fn presence_can_be_turned_off() {
    let server = TestServer::start_with(|config| config.presence.enabled = false).await;
    let alice = server.register("alice").await;
    server.sync(&alice, None, 0).await;
    let path = format!("/_matrix/client/v3/presence/{}/status", alice.user_id);
    assert_eq!(
        server
            .put(
                &path,
                Some(&alice.access_token),
                json!({ "presence": "online" })
            )
            .await
            .0,
        StatusCode::OK
    );
    let (_, status) = server.get(&path, Some(&alice.access_token)).await;
    assert_eq!(status["presence"], "offline");
    assert_eq!(
        server.sync(&alice, None, 0).await["presence"]["events"],
        json!([])
    );
}
