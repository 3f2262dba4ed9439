//! Login, logout, refresh tokens, login tokens and login rate limits.

use std::time::Duration;

use myelin_core::config::Bucket;
use reqwest::StatusCode;
use serde_json::json;

use crate::common::{PASSWORD, TestServer, assert_error};

#[tokio::test]
async fn password_login_accepts_localpart_and_user_id_and_refuses_bad_credentials() {
    let server = TestServer::start().await;
    server.register("alice").await;
    let (status, types) = server.get("/_matrix/client/v3/login", None).await;
    assert_eq!(status, StatusCode::OK);
    let kinds: Vec<&str> = types["flows"]
        .as_array()
        .expect("flows")
        .iter()
        .filter_map(|flow| flow["type"].as_str())
        .collect();
    assert_eq!(kinds, ["m.login.password", "m.login.token"]);

    for name in ["alice", "@alice:localhost", "ALICE"] {
        let (status, login) = server.login(name, PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{name}: {login}");
        assert_eq!(login["user_id"], "@alice:localhost");
        assert!(
            login["access_token"]
                .as_str()
                .is_some_and(|token| token.len() > 20)
        );
        assert!(login.get("refresh_token").is_none());
    }
    let wrong = server.login("alice", "not the password").await;
    let unknown = server.login("nobody", PASSWORD).await;
    assert_error(&wrong, StatusCode::FORBIDDEN, "M_FORBIDDEN");
    assert_error(&unknown, StatusCode::FORBIDDEN, "M_FORBIDDEN");
    assert_eq!(
        wrong.1["error"], unknown.1["error"],
        "responses must not reveal which accounts exist"
    );
    assert_error(
        &server.login("@alice:elsewhere.example", PASSWORD).await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
}

#[tokio::test]
async fn logging_in_with_an_existing_device_id_replaces_its_token() {
    let server = TestServer::start().await;
    server.register("alice").await;
    let body = json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": "alice" }, "password": PASSWORD, "device_id": "PHONE" });
    let (_, first) = server
        .post("/_matrix/client/v3/login", None, body.clone())
        .await;
    let (_, second) = server.post("/_matrix/client/v3/login", None, body).await;
    assert_eq!(
        (first["device_id"].as_str(), second["device_id"].as_str()),
        (Some("PHONE"), Some("PHONE"))
    );
    assert_error(
        &server
            .get(
                "/_matrix/client/v3/account/whoami",
                first["access_token"].as_str(),
            )
            .await,
        StatusCode::UNAUTHORIZED,
        "M_UNKNOWN_TOKEN",
    );
    let (status, whoami) = server
        .get(
            "/_matrix/client/v3/account/whoami",
            second["access_token"].as_str(),
        )
        .await;
    assert_eq!(
        (status, whoami["device_id"].as_str()),
        (StatusCode::OK, Some("PHONE"))
    );
}

#[tokio::test]
async fn logout_ends_one_session_and_logout_all_ends_every_session() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let (_, second) = server.login("alice", PASSWORD).await;
    let (_, third) = server.login("alice", PASSWORD).await;
    let (status, _) = server
        .post(
            "/_matrix/client/v3/logout",
            Some(&alice.access_token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_error(
        &server
            .get(
                "/_matrix/client/v3/account/whoami",
                Some(&alice.access_token),
            )
            .await,
        StatusCode::UNAUTHORIZED,
        "M_UNKNOWN_TOKEN",
    );
    let (_, devices) = server
        .get(
            "/_matrix/client/v3/devices",
            second["access_token"].as_str(),
        )
        .await;
    let ids: Vec<&str> = devices["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .filter_map(|device| device["device_id"].as_str())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(
        !ids.contains(&alice.device_id.as_str()),
        "the logged-out device is gone"
    );

    let (status, _) = server
        .post(
            "/_matrix/client/v3/logout/all",
            second["access_token"].as_str(),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for token in [&second, &third] {
        assert_error(
            &server
                .get(
                    "/_matrix/client/v3/account/whoami",
                    token["access_token"].as_str(),
                )
                .await,
            StatusCode::UNAUTHORIZED,
            "M_UNKNOWN_TOKEN",
        );
    }
    assert_eq!(
        server
            .server()
            .services()
            .users
            .devices(ruma::user_id!("@alice:localhost"))
            .expect("devices")
            .len(),
        0
    );
}

#[tokio::test]
async fn refresh_tokens_rotate_and_expired_tokens_ask_for_a_soft_logout() {
    let server =
        TestServer::start_with(|config| config.auth.refreshable_access_token_lifetime_ms = 1500)
            .await;
    server.register("alice").await;
    let body = json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": "alice" }, "password": PASSWORD, "refresh_token": true });
    let (status, login) = server.post("/_matrix/client/v3/login", None, body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(login["expires_in_ms"], 1500);
    let refresh = login["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned();
    let access = login["access_token"]
        .as_str()
        .expect("access token")
        .to_owned();

    tokio::time::sleep(Duration::from_millis(1600)).await;
    let expired = server
        .get("/_matrix/client/v3/account/whoami", Some(&access))
        .await;
    assert_error(&expired, StatusCode::UNAUTHORIZED, "M_UNKNOWN_TOKEN");
    assert_eq!(expired.1["soft_logout"], true);

    let (status, refreshed) = server
        .post(
            "/_matrix/client/v3/refresh",
            None,
            json!({ "refresh_token": refresh }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    let new_access = refreshed["access_token"]
        .as_str()
        .expect("new access token");
    assert_ne!(new_access, access);
    assert_eq!(refreshed["expires_in_ms"], 1500);
    let (status, whoami) = server
        .get("/_matrix/client/v3/account/whoami", Some(new_access))
        .await;
    assert_eq!(
        (status, whoami["device_id"].clone()),
        (StatusCode::OK, login["device_id"].clone()),
        "the device stays the same"
    );

    let reused = server
        .post(
            "/_matrix/client/v3/refresh",
            None,
            json!({ "refresh_token": refresh }),
        )
        .await;
    assert_error(&reused, StatusCode::UNAUTHORIZED, "M_UNKNOWN_TOKEN");
}

#[tokio::test]
async fn login_tokens_need_reauthentication_and_work_once() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let (status, challenge) = server
        .post(
            "/_matrix/client/v1/login/get_token",
            Some(&alice.access_token),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, challenge["flows"].clone()),
        (
            StatusCode::UNAUTHORIZED,
            json!([{ "stages": ["m.login.password"] }])
        )
    );
    let auth = TestServer::password_auth(&alice, challenge["session"].as_str());
    let (status, issued) = server
        .post(
            "/_matrix/client/v1/login/get_token",
            Some(&alice.access_token),
            json!({ "auth": auth }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    assert!(issued["expires_in_ms"].as_u64().is_some_and(|ms| ms > 0));
    let token = issued["login_token"].as_str().expect("token");

    let (status, login) = server
        .post(
            "/_matrix/client/v3/login",
            None,
            json!({ "type": "m.login.token", "token": token }),
        )
        .await;
    assert_eq!(
        (status, login["user_id"].as_str()),
        (StatusCode::OK, Some("@alice:localhost"))
    );
    assert_ne!(login["device_id"], alice.device_id.as_str());
    let reused = server
        .post(
            "/_matrix/client/v3/login",
            None,
            json!({ "type": "m.login.token", "token": token }),
        )
        .await;
    assert_error(&reused, StatusCode::FORBIDDEN, "M_FORBIDDEN");
}

#[tokio::test]
async fn login_attempts_are_rate_limited_with_a_retry_hint() {
    let server = TestServer::start_with(|config| {
        config.rate_limits.enabled = true;
        config.rate_limits.registration_per_ip = Bucket {
            per_second: 100.0,
            burst: 100,
        };
        config.rate_limits.login_per_ip = Bucket {
            per_second: 0.1,
            burst: 3,
        };
    })
    .await;
    server.register("alice").await;
    for _ in 0..3 {
        assert_ne!(
            server.login("alice", "wrong password").await.0,
            StatusCode::TOO_MANY_REQUESTS
        );
    }
    let response = server
        .http
        .post(format!("{}/_matrix/client/v3/login", server.url))
        .json(&json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": "alice" }, "password": PASSWORD }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["errcode"], "M_LIMIT_EXCEEDED");
    assert!(
        body["retry_after_ms"].as_u64().is_some_and(|ms| ms > 1000),
        "{body}"
    );
}
