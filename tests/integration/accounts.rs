//! Registration, password changes and deactivation.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{PASSWORD, TestServer, assert_error, user_from};

#[tokio::test]
async fn open_registration_runs_the_dummy_flow_and_logs_in() {
    let server = TestServer::start().await;
    let (status, flows) = server
        .post(
            "/_matrix/client/v3/register",
            None,
            json!({ "username": "alice", "password": PASSWORD }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(flows["flows"], json!([{ "stages": ["m.login.dummy"] }]));
    let session = flows["session"].as_str().expect("session");

    let body = json!({ "username": "alice", "password": PASSWORD, "initial_device_display_name": "Laptop", "auth": { "type": "m.login.dummy", "session": session } });
    let (status, registered) = server.post("/_matrix/client/v3/register", None, body).await;
    assert_eq!(status, StatusCode::OK, "{registered}");
    let alice = user_from(&registered);
    assert_eq!(alice.user_id, "@alice:localhost");

    let (status, whoami) = server
        .get(
            "/_matrix/client/v3/account/whoami",
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(whoami["user_id"], "@alice:localhost");
    assert_eq!(whoami["device_id"], alice.device_id.as_str());
    assert!(
        whoami.get("is_guest").is_none_or(|guest| guest == false),
        "{whoami}"
    );
}

#[tokio::test]
async fn taken_and_invalid_usernames_are_refused() {
    let server = TestServer::start().await;
    let (status, available) = server
        .get("/_matrix/client/v3/register/available?username=bob", None)
        .await;
    assert_eq!(
        (status, available["available"].as_bool()),
        (StatusCode::OK, Some(true))
    );
    server.register("bob").await;
    assert_error(
        &server
            .get("/_matrix/client/v3/register/available?username=bob", None)
            .await,
        StatusCode::BAD_REQUEST,
        "M_USER_IN_USE",
    );
    let again = server
        .post(
            "/_matrix/client/v3/register",
            None,
            json!({ "username": "bob", "password": PASSWORD, "auth": { "type": "m.login.dummy" } }),
        )
        .await;
    assert_error(&again, StatusCode::BAD_REQUEST, "M_USER_IN_USE");
    for bad in ["b ob", "bob:evil", "_bridge_bob"] {
        let result = server.post("/_matrix/client/v3/register", None, json!({ "username": bad, "password": PASSWORD, "auth": { "type": "m.login.dummy" } })).await;
        assert_error(&result, StatusCode::BAD_REQUEST, "M_INVALID_USERNAME");
    }
    let weak = server.post("/_matrix/client/v3/register", None, json!({ "username": "carol", "password": "short", "auth": { "type": "m.login.dummy" } })).await;
    assert_error(&weak, StatusCode::BAD_REQUEST, "M_WEAK_PASSWORD");
    let (_, carol_free) = server
        .get("/_matrix/client/v3/register/available?username=carol", None)
        .await;
    assert_eq!(
        carol_free["available"], true,
        "a refused registration must not create the account"
    );
    let guest = server
        .post("/_matrix/client/v3/register?kind=guest", None, json!({}))
        .await;
    assert_error(&guest, StatusCode::FORBIDDEN, "M_GUEST_ACCESS_FORBIDDEN");
}

#[tokio::test]
async fn closed_registration_needs_a_token_and_a_token_works_as_often_as_allowed() {
    let server = TestServer::start_with(|config| {
        config.registration.open = false;
        config.registration.first_start_token = false;
    })
    .await;
    let closed = server
        .post(
            "/_matrix/client/v3/register",
            None,
            json!({ "username": "dave", "password": PASSWORD }),
        )
        .await;
    assert_error(&closed, StatusCode::FORBIDDEN, "M_FORBIDDEN");

    let token = server
        .server()
        .services()
        .users
        .create_registration_token(Some(1), None)
        .await
        .expect("token")
        .token;
    let (status, valid) = server
        .get(
            &format!(
                "/_matrix/client/v1/register/m.login.registration_token/validity?token={token}"
            ),
            None,
        )
        .await;
    assert_eq!(
        (status, valid["valid"].as_bool()),
        (StatusCode::OK, Some(true))
    );

    let (status, flows) = server
        .post(
            "/_matrix/client/v3/register",
            None,
            json!({ "username": "dave", "password": PASSWORD }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        flows["flows"],
        json!([{ "stages": ["m.login.registration_token"] }])
    );
    let session = flows["session"].as_str().expect("session");
    let wrong = json!({ "username": "dave", "password": PASSWORD, "auth": { "type": "m.login.registration_token", "token": "nope", "session": session } });
    let (status, failed) = server
        .post("/_matrix/client/v3/register", None, wrong)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(failed["errcode"], "M_UNAUTHORIZED");
    assert_eq!(failed["completed"], json!([]));

    let right = json!({ "username": "dave", "password": PASSWORD, "auth": { "type": "m.login.registration_token", "token": token, "session": session } });
    let (status, registered) = server
        .post("/_matrix/client/v3/register", None, right)
        .await;
    assert_eq!(status, StatusCode::OK, "{registered}");
    assert_eq!(registered["user_id"], "@dave:localhost");

    let (_, valid) = server
        .get(
            &format!(
                "/_matrix/client/v1/register/m.login.registration_token/validity?token={token}"
            ),
            None,
        )
        .await;
    assert_eq!(valid["valid"], false, "a one-use token is spent");
    let reuse = json!({ "username": "erin", "password": PASSWORD, "auth": { "type": "m.login.registration_token", "token": token } });
    let (status, refused) = server
        .post("/_matrix/client/v3/register", None, reuse)
        .await;
    assert_eq!(
        (status, refused["errcode"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("M_UNAUTHORIZED"))
    );
    let (_, erin_free) = server
        .get("/_matrix/client/v3/register/available?username=erin", None)
        .await;
    assert_eq!(erin_free["available"], true);
}

#[tokio::test]
async fn an_empty_closed_server_creates_a_first_start_token() {
    let server = TestServer::start_with(|config| config.registration.open = false).await;
    let tokens = server
        .server()
        .services()
        .users
        .registration_tokens()
        .expect("tokens");
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].uses_allowed, Some(1));
    let body = json!({ "username": "first", "password": PASSWORD, "auth": { "type": "m.login.registration_token", "token": tokens[0].token } });
    let (status, registered) = server.post("/_matrix/client/v3/register", None, body).await;
    assert_eq!(status, StatusCode::OK, "{registered}");
}

#[tokio::test]
async fn changing_the_password_needs_the_old_one_and_logs_out_other_devices() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let (_, other_login) = server.login("alice", PASSWORD).await;
    let other_token = other_login["access_token"]
        .as_str()
        .expect("token")
        .to_owned();

    let (status, challenge) = server
        .post(
            "/_matrix/client/v3/account/password",
            Some(&alice.access_token),
            json!({ "new_password": "a brand new password" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge["flows"],
        json!([{ "stages": ["m.login.password"] }])
    );
    let session = challenge["session"].as_str().expect("session");

    let mut bad_auth = TestServer::password_auth(&alice, Some(session));
    bad_auth["password"] = "wrong password".into();
    let (status, failed) = server
        .post(
            "/_matrix/client/v3/account/password",
            Some(&alice.access_token),
            json!({ "new_password": "a brand new password", "auth": bad_auth }),
        )
        .await;
    assert_eq!(
        (status, failed["errcode"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("M_FORBIDDEN"))
    );
    assert_eq!(
        server.login("alice", PASSWORD).await.0,
        StatusCode::OK,
        "a failed stage changes nothing"
    );

    let auth = TestServer::password_auth(&alice, Some(session));
    let (status, _) = server
        .post(
            "/_matrix/client/v3/account/password",
            Some(&alice.access_token),
            json!({ "new_password": "a brand new password", "auth": auth }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_error(
        &server.login("alice", PASSWORD).await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    assert_eq!(
        server.login("alice", "a brand new password").await.0,
        StatusCode::OK
    );
    assert_error(
        &server
            .get("/_matrix/client/v3/account/whoami", Some(&other_token))
            .await,
        StatusCode::UNAUTHORIZED,
        "M_UNKNOWN_TOKEN",
    );
    assert_eq!(
        server
            .get(
                "/_matrix/client/v3/account/whoami",
                Some(&alice.access_token)
            )
            .await
            .0,
        StatusCode::OK,
        "the calling device stays"
    );
}

#[tokio::test]
async fn deactivated_accounts_can_never_log_in_and_their_ids_are_not_reissued() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room_id = server
        .create_room(&bob, json!({ "preset": "public_chat" }))
        .await;
    assert_eq!(server.join(&alice, &room_id).await.0, StatusCode::OK);
    server
        .put(
            &format!("/_matrix/client/v3/profile/{}/displayname", alice.user_id),
            Some(&alice.access_token),
            json!({ "displayname": "Alice" }),
        )
        .await;

    let (status, challenge) = server
        .post(
            "/_matrix/client/v3/account/deactivate",
            Some(&alice.access_token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let auth = TestServer::password_auth(&alice, challenge["session"].as_str());
    let (status, done) = server
        .post(
            "/_matrix/client/v3/account/deactivate",
            Some(&alice.access_token),
            json!({ "auth": auth }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(done["id_server_unbind_result"], "no-support");
    // As Synapse: a deactivated account leaves its rooms.
    let (_, members) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/joined_members"),
            Some(&bob.access_token),
        )
        .await;
    assert!(
        members["joined"].get(alice.user_id.as_str()).is_none(),
        "{members}"
    );

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
    assert_error(
        &server.login("alice", PASSWORD).await,
        StatusCode::FORBIDDEN,
        "M_USER_DEACTIVATED",
    );
    let again = server.post("/_matrix/client/v3/register", None, json!({ "username": "alice", "password": PASSWORD, "auth": { "type": "m.login.dummy" } })).await;
    assert_error(&again, StatusCode::BAD_REQUEST, "M_USER_IN_USE");
    let (_, profile) = server
        .get(
            &format!("/_matrix/client/v3/profile/{}", alice.user_id),
            None,
        )
        .await;
    assert!(
        profile.get("displayname").is_none(),
        "profile erased: {profile}"
    );
}
