//! Device management.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{PASSWORD, TestServer, assert_error};

#[tokio::test]
async fn devices_are_listed_renamed_and_seen() {
    let server = TestServer::start().await;
    server.register("alice").await;
    let body = json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": "alice" }, "password": PASSWORD, "initial_device_display_name": "Work laptop" });
    let (_, login) = server.post("/_matrix/client/v3/login", None, body).await;
    let token = login["access_token"].as_str().expect("token");
    let device_id = login["device_id"].as_str().expect("device");

    let (status, device) = server
        .get(
            &format!("/_matrix/client/v3/devices/{device_id}"),
            Some(token),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(device["display_name"], "Work laptop");
    assert_eq!(
        device["last_seen_ip"], "127.0.0.1",
        "using the token records where it was seen"
    );
    assert!(device["last_seen_ts"].as_u64().is_some());

    let (status, _) = server
        .put(
            &format!("/_matrix/client/v3/devices/{device_id}"),
            Some(token),
            json!({ "display_name": "Home laptop" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, devices) = server.get("/_matrix/client/v3/devices", Some(token)).await;
    let renamed = devices["devices"]
        .as_array()
        .expect("list")
        .iter()
        .find(|d| d["device_id"] == device_id)
        .expect("device listed")
        .clone();
    assert_eq!(renamed["display_name"], "Home laptop");
    // No client named itself yet: the key is there, null (as Synapse answers).
    assert_eq!(renamed["last_seen_user_agent"], serde_json::Value::Null);
    // The client that used the device last, as Element's session manager reads it.
    let answer = crate::common::http_client()
        .get(format!("{}/_matrix/client/v3/devices", server.url))
        .bearer_auth(token)
        .header("User-Agent", "Mozilla/5.0 Element/1.11.100")
        .send()
        .await
        .expect("devices");
    assert_eq!(answer.status(), StatusCode::OK);
    let (_, device) = server
        .get(
            &format!("/_matrix/client/v3/devices/{device_id}"),
            Some(token),
        )
        .await;
    assert_eq!(
        device["last_seen_user_agent"], "Mozilla/5.0 Element/1.11.100",
        "{device}"
    );

    assert_error(
        &server
            .get("/_matrix/client/v3/devices/NOSUCHDEVICE", Some(token))
            .await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
    assert_error(
        &server
            .put(
                "/_matrix/client/v3/devices/NOSUCHDEVICE",
                Some(token),
                json!({ "display_name": "x" }),
            )
            .await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
}

#[tokio::test]
async fn deleting_devices_needs_the_password_and_revokes_their_tokens() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let (_, phone) = server.login("alice", PASSWORD).await;
    let (_, tablet) = server.login("alice", PASSWORD).await;
    let phone_device = phone["device_id"].as_str().expect("device");

    let path = format!("/_matrix/client/v3/devices/{phone_device}");
    let (status, challenge) = server
        .request(
            Method::DELETE,
            &path,
            Some(&alice.access_token),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        server
            .get(
                "/_matrix/client/v3/account/whoami",
                phone["access_token"].as_str()
            )
            .await
            .0,
        StatusCode::OK,
        "nothing deleted before auth"
    );
    let auth = TestServer::password_auth(&alice, challenge["session"].as_str());
    let (status, _) = server
        .request(
            Method::DELETE,
            &path,
            Some(&alice.access_token),
            Some(json!({ "auth": auth })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_error(
        &server
            .get(
                "/_matrix/client/v3/account/whoami",
                phone["access_token"].as_str(),
            )
            .await,
        StatusCode::UNAUTHORIZED,
        "M_UNKNOWN_TOKEN",
    );

    let body = json!({ "devices": [tablet["device_id"], "UNKNOWNDEVICE"] });
    let (status, challenge) = server
        .post(
            "/_matrix/client/v3/delete_devices",
            Some(&alice.access_token),
            body.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let mut with_auth = body;
    with_auth["auth"] = TestServer::password_auth(&alice, challenge["session"].as_str());
    assert_eq!(
        server
            .post(
                "/_matrix/client/v3/delete_devices",
                Some(&alice.access_token),
                with_auth
            )
            .await
            .0,
        StatusCode::OK
    );
    let (_, devices) = server
        .get("/_matrix/client/v3/devices", Some(&alice.access_token))
        .await;
    let ids: Vec<&str> = devices["devices"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|d| d["device_id"].as_str())
        .collect();
    assert_eq!(ids, [alice.device_id.as_str()]);
}
