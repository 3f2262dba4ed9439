//! End-to-end encryption keys: upload, query, claim (one-time then fallback), counts in sync,
//! refusals.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestServer, TestUser, assert_error};

pub(crate) fn device_keys(user: &TestUser) -> Value {
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

pub(crate) fn one_time_key(n: u32) -> Value {
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
    // Nothing claimed for her: she is left out of the answer [Complement
    // TestFederationKeyUploadQuery].
    assert!(
        again["one_time_keys"].get(&alice.user_id).is_none(),
        "{again}"
    );
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
