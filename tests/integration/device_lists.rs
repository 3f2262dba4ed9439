//! Device lists in sync and `/keys/changes`: users whose keys changed, who newly share a room
//! or share none any more, on one server and across servers.

use reqwest::StatusCode;
use serde_json::json;

use crate::{
    common::{TestServer, TestUser},
    e2ee::device_keys,
};

#[tokio::test(flavor = "multi_thread")]
async fn device_list_changes_reach_users_who_share_a_room() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    let joined = server.join(&bob, &room_id).await;
    assert_eq!(joined.0, StatusCode::OK);
    let bob_since = server.sync(&bob, None, 0).await["next_batch"]
        .as_str()
        .expect("token")
        .to_owned();
    let carol_since = server.sync(&carol, None, 0).await["next_batch"]
        .as_str()
        .expect("token")
        .to_owned();

    upload_device_keys(&server, &alice).await;

    let bob_sync = server.sync(&bob, Some(&bob_since), 5000).await;
    assert_eq!(
        bob_sync["device_lists"]["changed"],
        json!([alice.user_id]),
        "{bob_sync}"
    );
    let carol_sync = server.sync(&carol, Some(&carol_since), 0).await;
    assert_eq!(
        carol_sync["device_lists"]["changed"],
        json!([]),
        "carol shares no room: {carol_sync}"
    );

    let to = bob_sync["next_batch"].as_str().expect("token");
    let (status, changes) = server
        .get(
            &format!("/_matrix/client/v3/keys/changes?from={bob_since}&to={to}"),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changes}");
    assert_eq!(changes["changed"], json!([alice.user_id]));
}

#[tokio::test(flavor = "multi_thread")]
async fn users_who_start_or_stop_sharing_a_room_are_changed_or_left() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    assert_eq!(server.join(&bob, &room_id).await.0, StatusCode::OK);
    let since = server.sync(&alice, None, 0).await["next_batch"]
        .as_str()
        .expect("token")
        .to_owned();

    // Carol joins: Alice must fetch her devices. Bob leaves: Alice may forget his.
    assert_eq!(server.join(&carol, &room_id).await.0, StatusCode::OK);
    let (status, _) = server
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/leave"),
            Some(&bob.access_token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let sync = server.sync(&alice, Some(&since), 0).await;
    assert_eq!(
        sync["device_lists"],
        json!({ "changed": [carol.user_id], "left": [bob.user_id] }),
        "{sync}"
    );
    let to = sync["next_batch"].as_str().expect("token");
    let (_, changes) = server
        .get(
            &format!("/_matrix/client/v3/keys/changes?from={since}&to={to}"),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(changes["changed"], json!([carol.user_id]), "{changes}");
    assert_eq!(changes["left"], json!([bob.user_id]), "{changes}");

    // Bob still shares another room with Alice: leaving one room does not make him "left".
    let other = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    assert_eq!(server.join(&bob, &other).await.0, StatusCode::OK);
    assert_eq!(server.join(&bob, &room_id).await.0, StatusCode::OK);
    let since = server.sync(&alice, Some(to), 0).await["next_batch"]
        .as_str()
        .expect("token")
        .to_owned();
    let (status, _) = server
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/leave"),
            Some(&bob.access_token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let sync = server.sync(&alice, Some(&since), 0).await;
    assert_eq!(sync["device_lists"]["left"], json!([]), "{sync}");
}

#[tokio::test(flavor = "multi_thread")]
async fn device_list_changes_cross_servers() {
    let SharedRoom {
        a,
        b,
        alice,
        bob,
        since,
    } = users_sharing_a_room_across_servers().await;
    upload_device_keys(&a, &alice).await;
    wait_until_device_list_changes(&b, &bob, &since, &alice).await;
    let (_, changes) = b
        .get(
            &format!(
                "/_matrix/client/v3/keys/changes?from={since}&to=s{}",
                u64::MAX / 2
            ),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(changes["changed"], json!([alice.user_id]), "{changes}");
}

/// Alice on one server and Bob on another, in one room; `since` is Bob's sync token from after
/// the join.
pub struct SharedRoom {
    pub a: TestServer,
    pub b: TestServer,
    pub alice: TestUser,
    pub bob: TestUser,
    pub since: String,
}

pub async fn users_sharing_a_room_across_servers() -> SharedRoom {
    let (a, _) = TestServer::start_federated().await;
    let (b, _) = TestServer::start_federated().await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let room_id = a
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    let joined = b
        .post(
            &format!("/_matrix/client/v3/join/{room_id}?via={}", a.server_name()),
            Some(&bob.access_token),
            json!({}),
        )
        .await;
    assert_eq!(joined.0, StatusCode::OK, "{}", joined.1);
    let since = b.sync(&bob, None, 0).await["next_batch"]
        .as_str()
        .expect("token")
        .to_owned();
    SharedRoom {
        a,
        b,
        alice,
        bob,
        since,
    }
}

/// Syncs `user` incrementally from `since` (an initial sync reports no changes) until
/// `changed` shows in `device_lists.changed`.
pub async fn wait_until_device_list_changes(
    server: &TestServer,
    user: &TestUser,
    since: &str,
    changed: &TestUser,
) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut token = since.to_owned();
    loop {
        let sync = server.sync(user, Some(&token), 1000).await;
        if sync["device_lists"]["changed"]
            .as_array()
            .is_some_and(|users| users.contains(&json!(changed.user_id)))
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the change did not arrive: {sync}"
        );
        token = sync["next_batch"].as_str().expect("token").to_owned();
    }
}

/// Keys of another server's user are cached while a room is shared: asked again, they come
/// from the cache even with that server down; a device-list update from it makes the next
/// query fetch afresh.
#[tokio::test(flavor = "multi_thread")]
async fn remote_keys_are_cached_until_their_server_reports_a_change() {
    let SharedRoom {
        mut a,
        b,
        alice,
        bob,
        since,
    } = users_sharing_a_room_across_servers().await;
    upload_device_keys(&a, &alice).await;
    wait_until_device_list_changes(&b, &bob, &since, &alice).await;
    let query = json!({ "device_keys": { alice.user_id.clone(): [] } });
    let devices_of_alice = |answer: &serde_json::Value| -> Vec<String> {
        answer["device_keys"][&alice.user_id]
            .as_object()
            .map(|devices| devices.keys().cloned().collect())
            .unwrap_or_default()
    };
    let (status, first) = b
        .post(
            "/_matrix/client/v3/keys/query",
            Some(&bob.access_token),
            query.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(
        devices_of_alice(&first),
        std::slice::from_ref(&alice.device_id),
        "{first}"
    );

    // Alice's server goes down: Bob's server still knows her keys.
    let name = a.server_name();
    let port: u16 = name
        .rsplit(':')
        .next()
        .and_then(|port| port.parse().ok())
        .expect("port");
    a.stop().await;
    let (status, cached) = b
        .post(
            "/_matrix/client/v3/keys/query",
            Some(&bob.access_token),
            query.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{cached}");
    assert_eq!(cached["failures"], json!({}), "{cached}");
    assert_eq!(cached["device_keys"], first["device_keys"]);

    // Back up, Alice adds a device; her server's update makes Bob's server ask again.
    a.restart(|config| crate::common::federated(config, port))
        .await;
    let since = b.sync(&bob, None, 0).await["next_batch"]
        .as_str()
        .expect("token")
        .to_owned();
    let (status, login) = a.login("alice", crate::common::PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{login}");
    let phone = crate::common::user_from(&login);
    upload_device_keys(&a, &phone).await;
    wait_until_device_list_changes(&b, &bob, &since, &alice).await;
    let (_, fresh) = b
        .post(
            "/_matrix/client/v3/keys/query",
            Some(&bob.access_token),
            query,
        )
        .await;
    let mut expected = vec![alice.device_id.clone(), phone.device_id.clone()];
    expected.sort();
    let mut found = devices_of_alice(&fresh);
    found.sort();
    assert_eq!(found, expected, "{fresh}");
}

/// Uploads `user`'s device keys (the test keys of [`device_keys`]).
async fn upload_device_keys(server: &TestServer, user: &TestUser) {
    let (status, answer) = server
        .post(
            "/_matrix/client/v3/keys/upload",
            Some(&user.access_token),
            json!({ "device_keys": device_keys(user) }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

/// An inbound EDU counter of a server's metrics.
async fn edus_received(server: &TestServer, edu_type: &str) -> u64 {
    let (_, metrics) = server.get("/_myelin/metrics", None).await;
    let prefix = format!("myelin_federation_edus_received_total{{type=\"{edu_type}\"}} ");
    metrics
        .as_str()
        .expect("text")
        .lines()
        .find_map(|line| line.strip_prefix(prefix.as_str()))
        .and_then(|value| value.trim().parse().ok())
        .expect("the EDU counter")
}

/// A user who joins a room on another server announces their devices to the room's servers
/// at once, without changing any [Complement TestDeviceListsUpdateOverFederationOnRoomJoin].
#[tokio::test(flavor = "multi_thread")]
async fn joining_a_room_announces_the_users_devices_to_its_servers() {
    let (a, _) = TestServer::start_federated().await;
    let (b, _) = TestServer::start_federated().await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let room_id = a
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    assert_eq!(edus_received(&a, "m.device_list_update").await, 0);
    let joined = crate::federation_helpers::join_via(&b, &bob, &room_id, &a.server_name()).await;
    assert_eq!(joined.0, StatusCode::OK, "{}", joined.1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while edus_received(&a, "m.device_list_update").await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no device list update reached the room's server"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A device's new name reaches users of other servers who share a room: their sync lists the
/// owner under `device_lists.changed`, and `/keys/query` answers the new name [Complement
/// TestFederationKeyUploadQuery "Can query remote device keys using POST"].
#[tokio::test(flavor = "multi_thread")]
async fn a_renamed_device_reaches_other_servers() {
    let (a, b, alice, bob, _room_id) = crate::federation_helpers::setup().await;
    // Bob's position before the upload: the change shows after it however fast it travels.
    let mut since = b.sync(&bob, None, 0).await["next_batch"]
        .as_str()
        .expect("next_batch")
        .to_owned();
    let (status, body) = a
        .post(
            "/_matrix/client/v3/keys/upload",
            Some(&alice.access_token),
            json!({ "device_keys": device_keys(&alice) }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let changed_for_bob = async |since: &str| -> (bool, String) {
        let sync = b.sync(&bob, Some(since), 1000).await;
        let changed = sync["device_lists"]["changed"]
            .as_array()
            .is_some_and(|users| users.iter().any(|user| user == alice.user_id.as_str()));
        (
            changed,
            sync["next_batch"].as_str().expect("next_batch").to_owned(),
        )
    };
    // The upload itself reaches Bob first; his server then has Alice's keys cached.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (changed, next) = changed_for_bob(&since).await;
        since = next;
        if changed {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the upload never reached bob's sync"
        );
    }
    let query = json!({ "device_keys": { alice.user_id.clone(): [] } });
    let (_, before) = b
        .post(
            "/_matrix/client/v3/keys/query",
            Some(&bob.access_token),
            query.clone(),
        )
        .await;
    assert!(
        before["device_keys"][&alice.user_id][&alice.device_id].is_object(),
        "{before}"
    );
    let (status, body) = a
        .put(
            &format!("/_matrix/client/v3/devices/{}", alice.device_id),
            Some(&alice.access_token),
            json!({ "display_name": "My new displayname" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (changed, next) = changed_for_bob(&since).await;
        if changed {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the rename never reached bob's sync"
        );
        since = next;
    }
    let (status, after) = b
        .post(
            "/_matrix/client/v3/keys/query",
            Some(&bob.access_token),
            query,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{after}");
    assert_eq!(
        after["device_keys"][&alice.user_id][&alice.device_id]["unsigned"]["device_display_name"],
        "My new displayname",
        "{after}"
    );
}
