//! Cross-signing: keys uploaded (UIA only to replace a master key), signatures checked and kept,
//! visible to whom the spec says, across servers; forged and misplaced signatures refused.

use reqwest::StatusCode;
use ruma::{
    CanonicalJsonObject,
    serde::Base64,
    signatures::{Ed25519KeyPair, sign_json},
};
use serde_json::{Value, json};

use crate::{
    common::{TestServer, TestUser, assert_error},
    device_lists::{
        SharedRoom, users_sharing_a_room_across_servers, wait_until_device_list_changes,
    },
};

/// An ed25519 key pair and its public key in unpadded base64.
pub struct SigningKey {
    pair: Ed25519KeyPair,
    pub public: String,
}

impl SigningKey {
    /// A key whose id is `ed25519:<name>`; `None` names it after its public key, as
    /// cross-signing keys are.
    pub fn generate(name: Option<&str>) -> Self {
        let der = Ed25519KeyPair::generate();
        let probe = Ed25519KeyPair::from_der(&der, "probe".into()).expect("own key");
        let public =
            Base64::<ruma::serde::base64::Standard>::new(probe.public_key().to_vec()).encode();
        let name = name.map_or_else(|| public.clone(), str::to_owned);
        let pair = Ed25519KeyPair::from_der(&der, name).expect("own key");
        Self { pair, public }
    }

    pub fn key_id(&self) -> String {
        format!("ed25519:{}", self.pair.version())
    }

    /// `object` with this key's signature (as `signer`) added.
    pub fn sign(&self, signer: &str, object: &Value) -> Value {
        let mut canonical: CanonicalJsonObject =
            serde_json::from_value(object.clone()).expect("canonical JSON");
        sign_json(signer, &self.pair, &mut canonical).expect("signing");
        serde_json::to_value(canonical).expect("JSON")
    }
}

/// One user's device key and cross-signing keys.
pub struct Keys {
    pub device: SigningKey,
    pub master: SigningKey,
    pub self_signing: SigningKey,
    pub user_signing: SigningKey,
}

impl Keys {
    pub fn generate(user: &TestUser) -> Self {
        Self {
            device: SigningKey::generate(Some(&user.device_id)),
            master: SigningKey::generate(None),
            self_signing: SigningKey::generate(None),
            user_signing: SigningKey::generate(None),
        }
    }

    /// The device keys, signed by the device.
    pub fn device_keys(&self, user: &TestUser) -> Value {
        let keys = json!({
            "user_id": user.user_id,
            "device_id": user.device_id,
            "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
            "keys": {
                format!("curve25519:{}", user.device_id): "wjLpTLRqbqBzLs63aYaEv2Boi6cFEbbM/sSRQ2oAKk4",
                self.device.key_id(): self.device.public,
            },
        });
        self.device.sign(&user.user_id, &keys)
    }

    fn cross_signing_key(user: &TestUser, key: &SigningKey, usage: &str) -> Value {
        json!({ "user_id": user.user_id, "usage": [usage], "keys": { key.key_id(): key.public } })
    }

    pub fn master_key(&self, user: &TestUser) -> Value {
        Self::cross_signing_key(user, &self.master, "master")
    }

    /// The upload body of all three keys, the others signed by the master key.
    pub fn upload_body(&self, user: &TestUser) -> Value {
        json!({
            "master_key": self.master_key(user),
            "self_signing_key": self.master.sign(
                &user.user_id,
                &Self::cross_signing_key(user, &self.self_signing, "self_signing"),
            ),
            "user_signing_key": self.master.sign(
                &user.user_id,
                &Self::cross_signing_key(user, &self.user_signing, "user_signing"),
            ),
        })
    }
}

/// Uploads the device keys and the cross-signing keys of `user`.
pub async fn set_up_cross_signing(server: &TestServer, user: &TestUser) -> Keys {
    let keys = Keys::generate(user);
    let (status, body) = server
        .post(
            "/_matrix/client/v3/keys/upload",
            Some(&user.access_token),
            json!({ "device_keys": keys.device_keys(user) }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = server
        .post(
            "/_matrix/client/v3/keys/device_signing/upload",
            Some(&user.access_token),
            keys.upload_body(user),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the first upload needs no UIA: {body}"
    );
    keys
}

async fn query(server: &TestServer, viewer: &TestUser, user: &TestUser) -> Value {
    let (status, body) = server
        .post(
            "/_matrix/client/v3/keys/query",
            Some(&viewer.access_token),
            json!({ "device_keys": { user.user_id.clone(): [] } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread")]
async fn cross_signing_keys_and_signatures_are_kept_and_shown_to_the_right_users() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let alice_keys = set_up_cross_signing(&server, &alice).await;
    let bob_keys = set_up_cross_signing(&server, &bob).await;

    // Bob sees Alice's master and self-signing keys; only Alice sees her user-signing key.
    let seen_by_bob = query(&server, &bob, &alice).await;
    assert_eq!(
        seen_by_bob["master_keys"][&alice.user_id]["keys"],
        alice_keys.master_key(&alice)["keys"]
    );
    assert_eq!(
        seen_by_bob["self_signing_keys"][&alice.user_id]["usage"],
        json!(["self_signing"])
    );
    assert_eq!(seen_by_bob["user_signing_keys"], json!({}), "{seen_by_bob}");
    let seen_by_alice = query(&server, &alice, &alice).await;
    assert_eq!(
        seen_by_alice["user_signing_keys"][&alice.user_id]["keys"]
            [alice_keys.user_signing.key_id()],
        json!(alice_keys.user_signing.public)
    );

    // Alice signs her device with her self-signing key and her master key with her device.
    let signed_device = alice_keys
        .self_signing
        .sign(&alice.user_id, &alice_keys.device_keys(&alice));
    let signed_master = alice_keys
        .device
        .sign(&alice.user_id, &alice_keys.master_key(&alice));
    let (status, body) = server
        .post(
            "/_matrix/client/v3/keys/signatures/upload",
            Some(&alice.access_token),
            json!({ alice.user_id.clone(): {
                alice.device_id.clone(): signed_device,
                alice_keys.master.public.clone(): signed_master,
            } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["failures"], json!({}), "{body}");

    // Bob signs Alice's master key with his user-signing key: only Bob sees that signature.
    let bob_signed = bob_keys
        .user_signing
        .sign(&bob.user_id, &alice_keys.master_key(&alice));
    let (status, body) = server
        .post(
            "/_matrix/client/v3/keys/signatures/upload",
            Some(&bob.access_token),
            json!({ alice.user_id.clone(): { alice_keys.master.public.clone(): bob_signed } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["failures"], json!({}), "{body}");

    let seen_by_bob = query(&server, &bob, &alice).await;
    let device = &seen_by_bob["device_keys"][&alice.user_id][&alice.device_id];
    assert!(
        device["signatures"][&alice.user_id][alice_keys.self_signing.key_id()].is_string(),
        "the self-signing signature is public: {device}"
    );
    let master = &seen_by_bob["master_keys"][&alice.user_id];
    assert!(master["signatures"][&alice.user_id][alice_keys.device.key_id()].is_string());
    assert!(master["signatures"][&bob.user_id][bob_keys.user_signing.key_id()].is_string());
    let master_seen_by_alice = &query(&server, &alice, &alice).await["master_keys"][&alice.user_id];
    assert!(
        master_seen_by_alice["signatures"][&alice.user_id][alice_keys.device.key_id()].is_string()
    );
    assert!(
        master_seen_by_alice["signatures"]
            .get(&bob.user_id)
            .is_none(),
        "Bob's user-signing signature is his alone: {master_seen_by_alice}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn replacing_a_master_key_needs_the_password() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let first = set_up_cross_signing(&server, &alice).await;
    // The same keys again: no UIA.
    let (status, body) = server
        .post(
            "/_matrix/client/v3/keys/device_signing/upload",
            Some(&alice.access_token),
            first.upload_body(&alice),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let second = Keys::generate(&alice);
    let (status, challenge) = server
        .post(
            "/_matrix/client/v3/keys/device_signing/upload",
            Some(&alice.access_token),
            second.upload_body(&alice),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{challenge}");
    assert_eq!(
        challenge["flows"][0]["stages"],
        json!(["m.login.password"]),
        "{challenge}"
    );
    // Nothing changed yet.
    let seen = query(&server, &alice, &alice).await;
    assert_eq!(
        seen["master_keys"][&alice.user_id]["keys"],
        first.master_key(&alice)["keys"]
    );

    let mut body = second.upload_body(&alice);
    body["auth"] = TestServer::password_auth(&alice, challenge["session"].as_str());
    let (status, answer) = server
        .post(
            "/_matrix/client/v3/keys/device_signing/upload",
            Some(&alice.access_token),
            body,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let seen = query(&server, &alice, &alice).await;
    assert_eq!(
        seen["master_keys"][&alice.user_id]["keys"],
        second.master_key(&alice)["keys"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_and_misplaced_signatures_are_refused() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let alice_keys = Keys::generate(&alice);

    // A self-signing key the master key did not sign.
    let mut body = alice_keys.upload_body(&alice);
    body["self_signing_key"] = alice_keys.self_signing.sign(
        &alice.user_id,
        &json!({ "user_id": alice.user_id, "usage": ["self_signing"], "keys": { alice_keys.self_signing.key_id(): alice_keys.self_signing.public } }),
    );
    let refused = server
        .post(
            "/_matrix/client/v3/keys/device_signing/upload",
            Some(&alice.access_token),
            body,
        )
        .await;
    assert_error(&refused, StatusCode::BAD_REQUEST, "M_INVALID_SIGNATURE");
    // A key for someone else.
    let mut body = alice_keys.upload_body(&alice);
    body["master_key"]["user_id"] = json!(bob.user_id);
    let refused = server
        .post(
            "/_matrix/client/v3/keys/device_signing/upload",
            Some(&alice.access_token),
            body,
        )
        .await;
    assert_error(&refused, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
    // Nothing was stored by either attempt.
    assert_eq!(query(&server, &bob, &alice).await["master_keys"], json!({}));

    let alice_keys = set_up_cross_signing(&server, &alice).await;
    let bob_keys = set_up_cross_signing(&server, &bob).await;
    // A device signature made with a key that is not Alice's self-signing key; a device that
    // does not exist; Bob signing Alice's device rather than her master key.
    let forged = bob_keys
        .self_signing
        .sign(&alice.user_id, &alice_keys.device_keys(&alice));
    let (status, body) = server
        .post(
            "/_matrix/client/v3/keys/signatures/upload",
            Some(&alice.access_token),
            json!({ alice.user_id.clone(): {
                alice.device_id.clone(): forged,
                "NOSUCHDEVICE": alice_keys.self_signing.sign(&alice.user_id, &json!({ "device_id": "NOSUCHDEVICE" })),
            } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let failures = &body["failures"][&alice.user_id];
    assert_eq!(
        failures[&alice.device_id]["errcode"], "M_INVALID_SIGNATURE",
        "{body}"
    );
    assert_eq!(failures["NOSUCHDEVICE"]["errcode"], "M_NOT_FOUND", "{body}");

    let bob_signs_device = bob_keys
        .user_signing
        .sign(&bob.user_id, &alice_keys.device_keys(&alice));
    let (status, body) = server
        .post(
            "/_matrix/client/v3/keys/signatures/upload",
            Some(&bob.access_token),
            json!({ alice.user_id.clone(): { alice.device_id.clone(): bob_signs_device } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["failures"][&alice.user_id][&alice.device_id]["errcode"], "M_INVALID_PARAM",
        "{body}"
    );
    // None of it shows.
    let device =
        &query(&server, &bob, &alice).await["device_keys"][&alice.user_id][&alice.device_id];
    assert_eq!(
        device["signatures"]
            .as_object()
            .map(|signers| signers.len()),
        Some(1),
        "only the device's own signature: {device}"
    );
    assert_eq!(
        device["signatures"][&alice.user_id]
            .as_object()
            .map(|keys| keys.len()),
        Some(1),
        "{device}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cross_signing_keys_cross_servers() {
    let SharedRoom {
        a,
        b,
        alice,
        bob,
        since,
    } = users_sharing_a_room_across_servers().await;

    let alice_keys = set_up_cross_signing(&a, &alice).await;
    let signed_device = alice_keys
        .self_signing
        .sign(&alice.user_id, &alice_keys.device_keys(&alice));
    let (status, body) = a
        .post(
            "/_matrix/client/v3/keys/signatures/upload",
            Some(&alice.access_token),
            json!({ alice.user_id.clone(): { alice.device_id.clone(): signed_device } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Bob's server hears of the change (m.signing_key_update / m.device_list_update).
    wait_until_device_list_changes(&b, &bob, &since, &alice).await;
    // And gets the keys from Alice's server, signatures included.
    let seen = query(&b, &bob, &alice).await;
    assert_eq!(
        seen["master_keys"][&alice.user_id]["keys"],
        alice_keys.master_key(&alice)["keys"],
        "{seen}"
    );
    assert_eq!(
        seen["self_signing_keys"][&alice.user_id]["usage"],
        json!(["self_signing"])
    );
    assert!(
        seen["device_keys"][&alice.user_id][&alice.device_id]["signatures"][&alice.user_id]
            [alice_keys.self_signing.key_id()]
        .is_string(),
        "{seen}"
    );
    assert_eq!(seen["user_signing_keys"], json!({}));

    // Bob's signature on Alice's master key stays on his server and shows to him.
    let bob_keys = set_up_cross_signing(&b, &bob).await;
    let bob_signed = bob_keys
        .user_signing
        .sign(&bob.user_id, &alice_keys.master_key(&alice));
    let (status, body) = b
        .post(
            "/_matrix/client/v3/keys/signatures/upload",
            Some(&bob.access_token),
            json!({ alice.user_id.clone(): { alice_keys.master.public.clone(): bob_signed } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["failures"], json!({}), "{body}");
    let seen = query(&b, &bob, &alice).await;
    assert!(
        seen["master_keys"][&alice.user_id]["signatures"][&bob.user_id]
            [bob_keys.user_signing.key_id()]
        .is_string(),
        "{seen}"
    );
}
