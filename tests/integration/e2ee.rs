//! End-to-end encryption keys: upload, query, claim (one-time then fallback), counts in sync,
//! refusals.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestServer, TestUser, assert_error};

fn device_keys(user: &TestUser) -> Value {
    json!({
        "user_id": user.user_id,
        "device_id": user.device_id,
        "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
        "keys": {
            format!("curve25519:{}", user.device_id): "wjLpTLRqbqBzLs63aYaEv2Boi6cFEbbM/sSRQ2oAKk4",
            format!("ed25519:{}", user.device_id): "nE6W2fCblxDcOFmeEtCHNl8/l8bXcu7GKyAswA4r3mM",
        },
        "signatures": { user.user_id.clone(): { format!("ed25519:{}", user.device_id): "dSO80A01XiigH3uBiDVx/EjzaoycHcjq9lfQX0uWsqxl2giMIiSPR8a4d291W1ihKJL/a+myXS367WT6NAIcBA" } },
    })
}

fn one_time_key(n: u32) -> Value {
    json!({ "key": format!("otk{n}"), "signatures": { "@x:y": { "ed25519:D": "sig" } } })
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_are_uploaded_queried_and_claimed_once_then_the_fallback() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let upload = json!({
        "device_keys": device_keys(&alice),
        "one_time_keys": {
            "signed_curve25519:AAAAAQ": one_time_key(1),
            "signed_curve25519:AAAAAg": one_time_key(2),
            "signed_curve25519:AAAAAw": one_time_key(3),
        },
        "fallback_keys": { "signed_curve25519:AAAABA": { "key": "fallback", "fallback": true, "signatures": {} } },
    });
    let (status, counts) = server
        .post(
            "/_matrix/client/v3/keys/upload",
            Some(&alice.access_token),
            upload.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{counts}");
    assert_eq!(
        counts["one_time_key_counts"],
        json!({ "signed_curve25519": 3 })
    );
    // Uploading the same keys again changes nothing.
    let (_, again) = server
        .post(
            "/_matrix/client/v3/keys/upload",
            Some(&alice.access_token),
            upload,
        )
        .await;
    assert_eq!(
        again["one_time_key_counts"],
        json!({ "signed_curve25519": 3 })
    );

    let sync = server.sync(&alice, None, 0).await;
    assert_eq!(
        sync["device_one_time_keys_count"],
        json!({ "signed_curve25519": 3 })
    );
    assert_eq!(
        sync["device_unused_fallback_key_types"],
        json!(["signed_curve25519"])
    );

    // Bob sees Alice's device keys as she uploaded them.
    let (status, query) = server
        .post(
            "/_matrix/client/v3/keys/query",
            Some(&bob.access_token),
            json!({ "device_keys": { alice.user_id.clone(): [] } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{query}");
    let keys = &query["device_keys"][&alice.user_id][&alice.device_id];
    assert_eq!(keys["keys"], device_keys(&alice)["keys"]);
    assert_eq!(keys["signatures"], device_keys(&alice)["signatures"]);

    // Three claims take the three one-time keys, each once; then the fallback key, repeatedly.
    let claim = json!({ "one_time_keys": { alice.user_id.clone(): { alice.device_id.clone(): "signed_curve25519" } } });
    let mut taken = Vec::new();
    for _ in 0..3 {
        let (status, claimed) = server
            .post(
                "/_matrix/client/v3/keys/claim",
                Some(&bob.access_token),
                claim.clone(),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{claimed}");
        let keys = claimed["one_time_keys"][&alice.user_id][&alice.device_id]
            .as_object()
            .expect("a key")
            .clone();
        taken.extend(keys.into_iter().map(|(id, key)| (id, key["key"].clone())));
    }
    taken.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        taken.iter().map(|(_, key)| key.clone()).collect::<Vec<_>>(),
        [json!("otk1"), json!("otk2"), json!("otk3")]
    );
    for _ in 0..2 {
        let (_, claimed) = server
            .post(
                "/_matrix/client/v3/keys/claim",
                Some(&bob.access_token),
                claim.clone(),
            )
            .await;
        assert_eq!(
            claimed["one_time_keys"][&alice.user_id][&alice.device_id]["signed_curve25519:AAAABA"]
                ["key"],
            "fallback"
        );
    }
    let sync = server.sync(&alice, None, 0).await;
    assert_eq!(sync["device_one_time_keys_count"], json!({}));
    assert_eq!(sync["device_unused_fallback_key_types"], json!([]));

    // Unknown devices are simply absent from the answer.
    let (status, none) = server
        .post("/_matrix/client/v3/keys/claim", Some(&bob.access_token), json!({ "one_time_keys": { alice.user_id.clone(): { "NOSUCHDEVICE": "signed_curve25519" } } }))
        .await;
    assert_eq!(
        (status, none["one_time_keys"].clone()),
        (StatusCode::OK, json!({}))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_key_uploads_are_refused_and_deleted_devices_lose_their_keys() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    // Device keys for someone else's device.
    let result = server
        .post(
            "/_matrix/client/v3/keys/upload",
            Some(&alice.access_token),
            json!({ "device_keys": device_keys(&bob) }),
        )
        .await;
    assert_error(&result, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
    // A one-time key id reused with another key.
    let first = json!({ "one_time_keys": { "signed_curve25519:AAAAAQ": one_time_key(1) } });
    let (status, _) = server
        .post(
            "/_matrix/client/v3/keys/upload",
            Some(&alice.access_token),
            first,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let clash = json!({ "one_time_keys": { "signed_curve25519:AAAAAQ": one_time_key(9) } });
    let result = server
        .post(
            "/_matrix/client/v3/keys/upload",
            Some(&alice.access_token),
            clash,
        )
        .await;
    assert_error(&result, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
    // Not JSON of the right shape.
    let result = server
        .post(
            "/_matrix/client/v3/keys/upload",
            Some(&alice.access_token),
            json!({ "one_time_keys": "nope" }),
        )
        .await;
    assert_error(&result, StatusCode::BAD_REQUEST, "M_BAD_JSON");

    // Keys go with their device.
    let (status, _) = server
        .post(
            "/_matrix/client/v3/keys/upload",
            Some(&alice.access_token),
            json!({ "device_keys": device_keys(&alice) }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (second_status, second) = server.login("alice", crate::common::PASSWORD).await;
    assert_eq!(second_status, StatusCode::OK);
    let other = crate::common::user_from(&second);
    let body =
        json!({ "devices": [alice.device_id], "auth": TestServer::password_auth(&alice, None) });
    let (status, deleted) = server
        .post(
            "/_matrix/client/v3/delete_devices",
            Some(&other.access_token),
            body,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    let (_, query) = server
        .post(
            "/_matrix/client/v3/keys/query",
            Some(&bob.access_token),
            json!({ "device_keys": { alice.user_id.clone(): [] } }),
        )
        .await;
    assert_eq!(query["device_keys"][&alice.user_id], json!({}), "{query}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_claims_and_oversize_uploads_are_refused() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let token = Some(alice.access_token.as_str());
    // Unknown devices and users have nothing to claim: left out, as the spec says, not errors.
    let (status, claimed) = server
        .post(
            "/_matrix/client/v3/keys/claim",
            token,
            json!({ "one_time_keys": {
                bob.user_id.clone(): { "NOSUCHDEVICE": "signed_curve25519" },
                "@nobody:localhost": { "X": "signed_curve25519" },
            } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{claimed}");
    assert_eq!(claimed["one_time_keys"], json!({}), "{claimed}");
    // Malformed claims and queries.
    let result = server
        .post(
            "/_matrix/client/v3/keys/claim",
            token,
            json!({ "one_time_keys": { "not a user id": { "D": "signed_curve25519" } } }),
        )
        .await;
    assert_eq!(result.0, StatusCode::BAD_REQUEST, "{}", result.1);
    let result = server
        .post(
            "/_matrix/client/v3/keys/query",
            token,
            json!({ "device_keys": { bob.user_id.clone(): "all" } }),
        )
        .await;
    assert_error(&result, StatusCode::BAD_REQUEST, "M_BAD_JSON");
    // A malformed key id.
    let result = server
        .post(
            "/_matrix/client/v3/keys/upload",
            token,
            json!({ "one_time_keys": { "no-algorithm": one_time_key(1) } }),
        )
        .await;
    assert_eq!(result.0, StatusCode::BAD_REQUEST, "{}", result.1);
    // More one-time keys than a device may hold, in one upload.
    let flood: serde_json::Map<String, Value> = (0..1001)
        .map(|n| (format!("signed_curve25519:K{n}"), one_time_key(n)))
        .collect();
    let result = server
        .post(
            "/_matrix/client/v3/keys/upload",
            token,
            json!({ "one_time_keys": flood }),
        )
        .await;
    assert_error(&result, StatusCode::PAYLOAD_TOO_LARGE, "M_TOO_LARGE");
    let sync = server.sync(&alice, None, 0).await;
    assert_eq!(
        sync["device_one_time_keys_count"],
        json!({}),
        "nothing was stored"
    );
    // A body past the request size limit.
    let huge = "x".repeat(2 * 1024 * 1024);
    let result = server
        .post(
            "/_matrix/client/v3/keys/upload",
            token,
            json!({ "device_keys": { "padding": huge } }),
        )
        .await;
    assert_error(&result, StatusCode::PAYLOAD_TOO_LARGE, "M_TOO_LARGE");
}

fn to_device_events(sync: &Value) -> Vec<Value> {
    sync["to_device"]["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn to_device_messages_arrive_once_per_device_until_acknowledged() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let (_, second) = server.login("alice", crate::common::PASSWORD).await;
    let alice_phone = crate::common::user_from(&second);
    let bob = server.register("bob").await;

    // Alice's laptop waits in a long-poll; Bob's message to it ends the wait.
    let since = server.sync(&alice, None, 0).await["next_batch"]
        .as_str()
        .expect("token")
        .to_owned();
    let waiting = {
        let (url, token, since) = (
            server.url.clone(),
            alice.access_token.clone(),
            since.clone(),
        );
        tokio::spawn(async move {
            crate::common::http_client()
                .get(format!(
                    "{url}/_matrix/client/v3/sync?timeout=10000&since={since}"
                ))
                .bearer_auth(token)
                .send()
                .await
                .expect("sync")
                .json::<Value>()
                .await
                .expect("json")
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let messages = json!({ "messages": { alice.user_id.clone(): { alice.device_id.clone(): { "secret": "for the laptop" } } } });
    let path = "/_matrix/client/v3/sendToDevice/m.test/txn1";
    let (status, _) = server
        .put(path, Some(&bob.access_token), messages.clone())
        .await;
    assert_eq!(status, StatusCode::OK);
    // The same transaction again is not a second message.
    let (status, _) = server.put(path, Some(&bob.access_token), messages).await;
    assert_eq!(status, StatusCode::OK);
    let woken = waiting.await.expect("long-poll");
    let events = to_device_events(&woken);
    assert_eq!(
        events,
        [
            json!({ "sender": bob.user_id, "type": "m.test", "content": { "secret": "for the laptop" } })
        ]
    );

    // `*` reaches every device of the user.
    let everyone = json!({ "messages": { alice.user_id.clone(): { "*": { "hello": "all" } } } });
    let (status, _) = server
        .put(
            "/_matrix/client/v3/sendToDevice/m.test/txn2",
            Some(&bob.access_token),
            everyone,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let phone = server.sync(&alice_phone, None, 0).await;
    assert_eq!(
        to_device_events(&phone),
        [json!({ "sender": bob.user_id, "type": "m.test", "content": { "hello": "all" } })]
    );

    // Until acknowledged, a message comes again; syncing on from the token that carried it
    // deletes it.
    let next = woken["next_batch"].as_str().expect("token");
    let laptop = server.sync(&alice, Some(next), 0).await;
    assert_eq!(
        to_device_events(&laptop).len(),
        1,
        "only the broadcast is new: {laptop}"
    );
    let after = laptop["next_batch"].as_str().expect("token");
    let laptop = server.sync(&alice, Some(after), 0).await;
    assert!(to_device_events(&laptop).is_empty(), "{laptop}");
    let laptop = server.sync(&alice, Some(&since), 0).await;
    assert!(
        to_device_events(&laptop).is_empty(),
        "acknowledged messages are gone: {laptop}"
    );

    // Bad input changes nothing.
    let result = server
        .put(
            "/_matrix/client/v3/sendToDevice/m.test/txn3",
            Some(&bob.access_token),
            json!({ "messages": { alice.user_id.clone(): { "*": "not an object" } } }),
        )
        .await;
    assert_eq!(result.0, StatusCode::BAD_REQUEST, "{}", result.1);
    assert!(to_device_events(&server.sync(&alice_phone, None, 0).await).len() == 1);
}

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

    let (status, _) = server
        .post(
            "/_matrix/client/v3/keys/upload",
            Some(&alice.access_token),
            json!({ "device_keys": device_keys(&alice) }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

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
async fn keys_of_users_on_other_servers_are_queried_and_claimed_through_them() {
    let (a, _) = TestServer::start_federated().await;
    let (b, _) = TestServer::start_federated().await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let upload = json!({
        "device_keys": device_keys(&alice),
        "one_time_keys": { "signed_curve25519:AAAAAQ": one_time_key(1) },
    });
    let (status, _) = a
        .post(
            "/_matrix/client/v3/keys/upload",
            Some(&alice.access_token),
            upload,
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, query) = b
        .post(
            "/_matrix/client/v3/keys/query",
            Some(&bob.access_token),
            json!({ "device_keys": { alice.user_id.clone(): [] } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{query}");
    assert_eq!(
        query["device_keys"][&alice.user_id][&alice.device_id]["keys"],
        device_keys(&alice)["keys"],
        "{query}"
    );
    assert_eq!(query["failures"], json!({}));

    let claim = json!({ "one_time_keys": { alice.user_id.clone(): { alice.device_id.clone(): "signed_curve25519" } } });
    let (status, claimed) = b
        .post(
            "/_matrix/client/v3/keys/claim",
            Some(&bob.access_token),
            claim.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{claimed}");
    assert_eq!(
        claimed["one_time_keys"][&alice.user_id][&alice.device_id]["signed_curve25519:AAAAAQ"]["key"],
        "otk1"
    );
    // Taken once: Alice's server has none left.
    let (_, again) = b
        .post(
            "/_matrix/client/v3/keys/claim",
            Some(&bob.access_token),
            claim,
        )
        .await;
    assert_eq!(again["one_time_keys"][&alice.user_id], json!({}), "{again}");
    let sync = a.sync(&alice, None, 0).await;
    assert_eq!(sync["device_one_time_keys_count"], json!({}));

    // A server that cannot be reached is named under failures.
    let (status, query) = b
        .post(
            "/_matrix/client/v3/keys/query",
            Some(&bob.access_token),
            json!({ "device_keys": { "@ghost:127.0.0.1:1": [] } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{query}");
    assert!(query["failures"]["127.0.0.1:1"].is_object(), "{query}");
    // Asked again soon after, the unreachable server is not even tried (backoff).
    let (_, again) = b
        .post(
            "/_matrix/client/v3/keys/query",
            Some(&bob.access_token),
            json!({ "device_keys": { "@ghost:127.0.0.1:1": [] } }),
        )
        .await;
    assert!(
        again["failures"]["127.0.0.1:1"]["error"]
            .as_str()
            .is_some_and(|error| error.contains("not trying again")),
        "{again}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn to_device_messages_cross_servers() {
    let (a, _) = TestServer::start_federated().await;
    let (b, _) = TestServer::start_federated().await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let messages = json!({ "messages": { bob.user_id.clone(): { bob.device_id.clone(): { "olm": "ciphertext" } } } });
    let path = "/_matrix/client/v3/sendToDevice/m.room.encrypted/cross1";
    let (status, body) = a
        .put(path, Some(&alice.access_token), messages.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A retried transaction is not sent twice.
    let (status, _) = a.put(path, Some(&alice.access_token), messages).await;
    assert_eq!(status, StatusCode::OK);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut since: Option<String> = None;
    let mut received = Vec::new();
    while received.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the message did not arrive"
        );
        let sync = b.sync(&bob, since.as_deref(), 1000).await;
        received = to_device_events(&sync);
        since = sync["next_batch"].as_str().map(str::to_owned);
    }
    assert_eq!(
        received,
        [
            json!({ "sender": alice.user_id, "type": "m.room.encrypted", "content": { "olm": "ciphertext" } })
        ]
    );
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let later = b.sync(&bob, since.as_deref(), 0).await;
    assert!(
        to_device_events(&later).is_empty(),
        "delivered once: {later}"
    );
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
    let (status, _) = a
        .post(
            "/_matrix/client/v3/keys/upload",
            Some(&alice.access_token),
            json!({ "device_keys": device_keys(&alice) }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
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
