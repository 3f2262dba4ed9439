//! Client-server behaviour as the spec and Synapse have it, where clients nobody here wrote
//! look (Element Web's registration probe, Complement's `tests/csapi`).

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{PASSWORD, TestServer, assert_error};

/// Element Web's first probe is `{"initial_device_display_name": …}` alone: it shows the form
/// only on a 401 with the flows [Complement TestRegistration "POST {} returns a set of flows"].
#[tokio::test]
async fn registration_answers_the_flows_before_validating_anything_else() {
    let server = TestServer::start().await;
    for body in [
        json!({}),
        json!({ "initial_device_display_name": "Element Web" }),
        json!({ "username": "probe", "password": PASSWORD }),
    ] {
        let (status, answer) = server
            .post("/_matrix/client/v3/register", None, body.clone())
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body} → {answer}");
        let stages: Vec<&str> = answer["flows"][0]["stages"]
            .as_array()
            .expect("flows")
            .iter()
            .filter_map(|stage| stage.as_str())
            .collect();
        assert_eq!(stages, ["m.login.dummy"], "{answer}");
        assert!(answer["session"].is_string(), "{answer}");
    }
    // With the stages done but no password: 400, as Synapse.
    let (_, first) = server
        .post("/_matrix/client/v3/register", None, json!({}))
        .await;
    let session = first["session"].as_str().expect("session");
    assert_error(
        &server
            .post(
                "/_matrix/client/v3/register",
                None,
                json!({ "username": "nopass", "auth": { "type": "m.login.dummy", "session": session } }),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "M_MISSING_PARAM",
    );
}

#[tokio::test]
async fn inhibit_login_answers_only_the_user_id() {
    let server = TestServer::start().await;
    let (status, answer) = server
        .post(
            "/_matrix/client/v3/register",
            None,
            json!({
                "username": "quiet",
                "password": PASSWORD,
                "inhibit_login": true,
                "auth": { "type": "m.login.dummy" },
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let keys: Vec<&String> = answer.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["user_id"], "{answer}");
    assert!(
        answer["user_id"]
            .as_str()
            .is_some_and(|user| user.starts_with("@quiet:"))
    );
}

/// [Complement TestLogin]: a stale `Authorization` header does not stop a login, and a wrong
/// password or an unknown user is 403 M_FORBIDDEN.
#[tokio::test]
async fn login_ignores_a_stale_token_and_refuses_bad_credentials_with_403() {
    let server = TestServer::start().await;
    server.register("alice").await;
    let login = |user: &str, password: &str| {
        json!({
            "type": "m.login.password",
            "identifier": { "type": "m.id.user", "user": user },
            "password": password,
        })
    };
    let (status, answer) = server
        .post(
            "/_matrix/client/v3/login",
            Some("stale_token_from_an_old_session"),
            login("alice", PASSWORD),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(answer["access_token"].is_string());
    for (user, password) in [("alice", "wrong password"), ("nobody", PASSWORD)] {
        assert_error(
            &server
                .post("/_matrix/client/v3/login", None, login(user, password))
                .await,
            StatusCode::FORBIDDEN,
            "M_FORBIDDEN",
        );
    }
}

#[tokio::test]
async fn versions_advertise_cross_signing_for_element_web() {
    let server = TestServer::start().await;
    let (status, versions) = server.get("/_matrix/client/versions", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        versions["unstable_features"]["org.matrix.e2e_cross_signing"],
        true
    );
}
