//! Application services and end-to-end encryption: devices of the users a bridge acts for (MSC4190)
//! and the device lists and key counts encrypting bridges hear of (MSC3202).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::appservice_bridge::{Bridge, as_call, server_with_bridge, server_with_bridge_and};

/// Appservices manage their users' devices (spec v1.17, MSC4190/MSC4326): naming a device
/// with `PUT /devices/{id}` creates it, the appservice acts on it with `?device_id=` (its
/// keys are the device's), and deletes it without user-interactive auth; users still need
/// theirs, and unknown devices stay `404` for them.
#[tokio::test]
async fn appservices_create_use_and_delete_their_users_devices() {
    let bridge = Bridge::default();
    let (server, _dir) = server_with_bridge(&bridge).await;
    let (status, ghost) = as_call(
        &server,
        reqwest::Method::POST,
        "/_matrix/client/v3/register",
        json!({ "type": "m.login.application_service", "username": "bridge_dev", "inhibit_login": true }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{ghost}");
    let ghost_id = "%40bridge_dev%3Alocalhost";
    let (status, body) = as_call(
        &server,
        reqwest::Method::PUT,
        &format!("/_matrix/client/v3/devices/BRIDGEDEV?user_id={ghost_id}"),
        json!({ "display_name": "Bridge device" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, devices) = as_call(
        &server,
        reqwest::Method::GET,
        &format!("/_matrix/client/v3/devices?user_id={ghost_id}"),
        Value::Null,
    )
    .await;
    let listed = devices["devices"].as_array().expect("devices");
    assert!(
        listed
            .iter()
            .any(|device| device["device_id"] == "BRIDGEDEV"
                && device["display_name"] == "Bridge device"),
        "{devices}"
    );
    // Acting on the device: its keys are uploaded for it.
    let (status, body) = as_call(
        &server,
        reqwest::Method::POST,
        &format!("/_matrix/client/v3/keys/upload?user_id={ghost_id}&device_id=BRIDGEDEV"),
        json!({ "one_time_keys": { "signed_curve25519:AAAAAQ": { "key": "k", "signatures": {} } } }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["one_time_key_counts"]["signed_curve25519"], 1,
        "{body}"
    );
    let (status, body) = as_call(
        &server,
        reqwest::Method::DELETE,
        &format!("/_matrix/client/v3/devices/BRIDGEDEV?user_id={ghost_id}"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, devices) = as_call(
        &server,
        reqwest::Method::GET,
        &format!("/_matrix/client/v3/devices?user_id={ghost_id}"),
        Value::Null,
    )
    .await;
    assert!(
        !devices["devices"]
            .as_array()
            .expect("devices")
            .iter()
            .any(|device| device["device_id"] == "BRIDGEDEV"),
        "{devices}"
    );
    // A user still gets 404 for a device that does not exist, and needs UIA to delete one.
    let alice = server.register("alice").await;
    let (status, _) = server
        .put(
            "/_matrix/client/v3/devices/NOSUCHDEVICE",
            Some(&alice.access_token),
            json!({ "display_name": "x" }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = server
        .request(
            reqwest::Method::DELETE,
            &format!("/_matrix/client/v3/devices/{}", alice.device_id),
            Some(&alice.access_token),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

/// MSC3202 (encrypting bridges): a registration that opts in gets, in its transactions, the
/// users sharing a room with its users whose devices changed, and the one-time key counts and
/// unused fallback key types of its devices a transaction concerns (after a key was claimed
/// and a to-device message came for the device).
#[tokio::test]
async fn encrypting_bridges_hear_of_device_lists_and_key_counts() {
    let bridge = Bridge::default();
    let (server, _dir) = server_with_bridge_and(
        &bridge,
        "de.sorunome.msc2409.push_ephemeral: true\norg.matrix.msc3202: true\n",
    )
    .await;
    let alice = server.register("alice").await;
    let ghost = "%40bridge_crypt%3Alocalhost";
    let (status, body) = as_call(
        &server,
        reqwest::Method::POST,
        "/_matrix/client/v3/register",
        json!({ "type": "m.login.application_service", "username": "bridge_crypt", "inhibit_login": true }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for (method, path, body) in [
        (
            reqwest::Method::PUT,
            format!("/_matrix/client/v3/devices/CRYPT?user_id={ghost}"),
            json!({}),
        ),
        (
            reqwest::Method::POST,
            format!("/_matrix/client/v3/keys/upload?user_id={ghost}&device_id=CRYPT"),
            json!({ "one_time_keys": { "signed_curve25519:AAAAAQ": { "key": "k1", "signatures": {} } } }),
        ),
    ] {
        let (status, answer) = as_call(&server, method, &path, body).await;
        assert_eq!(status, StatusCode::OK, "{path}: {answer}");
    }
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    let (status, joined) = as_call(
        &server,
        reqwest::Method::POST,
        &format!("/_matrix/client/v3/join/{room_id}?user_id={ghost}"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    // Alice's keys change: the bridge hears of it.
    let (status, _) = server
        .post(
            "/_matrix/client/v3/keys/upload",
            Some(&alice.access_token),
            json!({ "device_keys": crate::e2ee::device_keys(&alice) }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // She claims the bridge device's key and sends it a to-device message.
    let (status, claimed) = server
        .post(
            "/_matrix/client/v3/keys/claim",
            Some(&alice.access_token),
            json!({ "one_time_keys": { "@bridge_crypt:localhost": { "CRYPT": "signed_curve25519" } } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{claimed}");
    let (status, _) = server
        .put(
            "/_matrix/client/v3/sendToDevice/m.room.encrypted/e1",
            Some(&alice.access_token),
            json!({ "messages": { "@bridge_crypt:localhost": { "CRYPT": { "ciphertext": "x" } } } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let transactions = bridge.transactions.lock().expect("lock").clone();
        let changed = transactions.iter().any(|(_, body)| {
            body["org.matrix.msc3202.device_lists"]["changed"]
                .as_array()
                .is_some_and(|users| users.iter().any(|user| user == alice.user_id.as_str()))
        });
        let counted = transactions.iter().any(|(_, body)| {
            body["org.matrix.msc3202.device_one_time_keys_count"]["@bridge_crypt:localhost"]["CRYPT"]
                .is_object()
                && body["org.matrix.msc3202.device_unused_fallback_key_types"]["@bridge_crypt:localhost"]["CRYPT"]
                    .is_array()
        });
        if changed && counted {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "changed: {changed}, counted: {counted}; {transactions:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
