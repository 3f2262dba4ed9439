//! Malformed requests get a precise error and change nothing.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{TestServer, assert_error};

#[tokio::test]
async fn unparsable_json_is_not_json_and_wrong_shapes_are_bad_json() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    assert_error(
        &server
            .raw(
                Method::POST,
                "/_matrix/client/v3/login",
                None,
                "{\"type\": ",
            )
            .await,
        StatusCode::BAD_REQUEST,
        "M_NOT_JSON",
    );
    assert_error(
        &server
            .raw(
                Method::POST,
                "/_matrix/client/v3/register",
                None,
                "not json at all",
            )
            .await,
        StatusCode::BAD_REQUEST,
        "M_NOT_JSON",
    );
    let wrong_type = json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": 5 }, "password": "x" });
    assert_error(
        &server
            .post("/_matrix/client/v3/login", None, wrong_type)
            .await,
        StatusCode::BAD_REQUEST,
        "M_BAD_JSON",
    );
    // A login body without `type` used to panic inside ruma's decoder and drop the connection.
    for body in [json!({}), json!({ "user": "alice", "password": "x" })] {
        assert_error(
            &server.post("/_matrix/client/v3/login", None, body).await,
            StatusCode::BAD_REQUEST,
            "M_BAD_JSON",
        );
    }
    assert_error(
        &server
            .post(
                "/_matrix/client/v3/login",
                None,
                json!({ "type": "m.login.sso" }),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "M_UNKNOWN",
    );
    assert_error(
        &server
            .post(
                "/_matrix/client/v3/account/password",
                Some(&alice.access_token),
                json!({ "new_password": ["array"] }),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "M_BAD_JSON",
    );
    let path = format!(
        "/_matrix/client/v3/user/{}/account_data/org.example",
        alice.user_id
    );
    assert_error(
        &server
            .raw(Method::PUT, &path, Some(&alice.access_token), "{oops")
            .await,
        StatusCode::BAD_REQUEST,
        "M_NOT_JSON",
    );
    assert_error(
        &server.get(&path, Some(&alice.access_token)).await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
}

#[tokio::test]
async fn oversize_bodies_are_refused_and_change_nothing() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let path = format!(
        "/_matrix/client/v3/user/{}/account_data/org.example.big",
        alice.user_id
    );
    let body = json!({ "blob": "x".repeat(2 * 1024 * 1024) });
    assert_error(
        &server.put(&path, Some(&alice.access_token), body).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "M_TOO_LARGE",
    );
    assert_error(
        &server.get(&path, Some(&alice.access_token)).await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
}

#[tokio::test]
async fn invalid_identifiers_and_tokens_are_refused() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    assert_error(
        &server
            .get("/_matrix/client/v3/profile/not-a-user-id", None)
            .await,
        StatusCode::BAD_REQUEST,
        "M_INVALID_PARAM",
    );
    assert_error(
        &server.get("/_matrix/client/v3/account/whoami", None).await,
        StatusCode::UNAUTHORIZED,
        "M_MISSING_TOKEN",
    );
    let unknown = server
        .get("/_matrix/client/v3/account/whoami", Some("myl_forged"))
        .await;
    assert_error(&unknown, StatusCode::UNAUTHORIZED, "M_UNKNOWN_TOKEN");
    assert_eq!(unknown.1["soft_logout"], false);
    let (status, whoami) = server
        .get(
            &format!(
                "/_matrix/client/v3/account/whoami?access_token={}",
                alice.access_token
            ),
            None,
        )
        .await;
    assert_eq!(
        (status, whoami["user_id"].as_str()),
        (StatusCode::OK, Some("@alice:localhost")),
        "query-string tokens still work"
    );
    let unknown_session = json!({ "new_password": "another password", "auth": { "type": "m.login.password", "session": "made-up", "identifier": { "type": "m.id.user", "user": "alice" }, "password": "x" } });
    assert_error(
        &server
            .post(
                "/_matrix/client/v3/account/password",
                Some(&alice.access_token),
                unknown_session,
            )
            .await,
        StatusCode::BAD_REQUEST,
        "M_INVALID_PARAM",
    );
}
