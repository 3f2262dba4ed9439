//! Administration through the client API: `whois`, locking and suspending accounts.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{PASSWORD, TestServer, TestUser, assert_error, user_from};

async fn admin(server: &TestServer) -> TestUser {
    let user_id = ruma::UserId::parse(format!("@root:{}", server.server_name())).expect("user id");
    server
        .server()
        .services()
        .users
        .create_account(&user_id, Some(PASSWORD), true, None)
        .await
        .expect("admin account");
    let (status, login) = server.login("root", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{login}");
    user_from(&login)
}

async fn put(
    server: &TestServer,
    admin: &TestUser,
    what: &str,
    user: &TestUser,
    body: Value,
) -> (StatusCode, Value) {
    server
        .put(
            &format!("/_matrix/client/v1/admin/{what}/{}", user.user_id),
            Some(&admin.access_token),
            body,
        )
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn admins_see_devices_and_lock_or_suspend_accounts() {
    let server = TestServer::start().await;
    let root = admin(&server).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room = server
        .create_room(&bob, json!({ "preset": "public_chat" }))
        .await;

    // whois: the devices with where they were last seen; for admins and oneself only.
    let path = format!("/_matrix/client/v3/admin/whois/{}", alice.user_id);
    let (status, whois) = server.get(&path, Some(&root.access_token)).await;
    assert_eq!(status, StatusCode::OK, "{whois}");
    assert_eq!(whois["user_id"], alice.user_id.as_str());
    let device = &whois["devices"][&alice.device_id];
    assert!(device["sessions"].is_array(), "{whois}");
    let (status, _) = server.get(&path, Some(&alice.access_token)).await;
    assert_eq!(status, StatusCode::OK);
    let refused = server.get(&path, Some(&bob.access_token)).await;
    assert_error(&refused, StatusCode::FORBIDDEN, "M_FORBIDDEN");

    // Suspended: reads and leaves, but cannot send, join or change the profile.
    assert_eq!(server.join(&alice, &room).await.0, StatusCode::OK);
    let (status, answer) = put(
        &server,
        &root,
        "suspend",
        &alice,
        json!({ "suspended": true }),
    )
    .await;
    assert_eq!(
        (status, answer),
        (StatusCode::OK, json!({ "suspended": true }))
    );
    let (_, state) = server
        .get(
            &format!("/_matrix/client/v1/admin/suspend/{}", alice.user_id),
            Some(&root.access_token),
        )
        .await;
    assert_eq!(state, json!({ "suspended": true }));
    let sent = server.send_text_result(&alice, &room, "still here?").await;
    assert_error(&sent, StatusCode::FORBIDDEN, "M_USER_SUSPENDED");
    let other = server
        .create_room(&bob, json!({ "preset": "public_chat" }))
        .await;
    assert_error(
        &server.join(&alice, &other).await,
        StatusCode::FORBIDDEN,
        "M_USER_SUSPENDED",
    );
    let renamed = server
        .put(
            &format!("/_matrix/client/v3/profile/{}/displayname", alice.user_id),
            Some(&alice.access_token),
            json!({ "displayname": "new name" }),
        )
        .await;
    assert_error(&renamed, StatusCode::FORBIDDEN, "M_USER_SUSPENDED");
    server.sync(&alice, None, 0).await;
    let (status, _) = server
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/leave"),
            Some(&alice.access_token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    put(
        &server,
        &root,
        "suspend",
        &alice,
        json!({ "suspended": false }),
    )
    .await;
    assert_eq!(server.join(&alice, &room).await.0, StatusCode::OK);
    server.send_text(&alice, &room, "back").await;

    // Locked: every request but logout is refused, with soft logout so the session is kept.
    let (status, answer) = put(&server, &root, "lock", &alice, json!({ "locked": true })).await;
    assert_eq!(
        (status, answer),
        (StatusCode::OK, json!({ "locked": true }))
    );
    let (status, locked) = server
        .get(
            "/_matrix/client/v3/account/whoami",
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{locked}");
    assert_eq!(locked["errcode"], "M_USER_LOCKED");
    assert_eq!(locked["soft_logout"], true);
    put(&server, &root, "lock", &alice, json!({ "locked": false })).await;
    let (status, _) = server
        .get(
            "/_matrix/client/v3/account/whoami",
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    put(&server, &root, "lock", &alice, json!({ "locked": true })).await;
    let (status, _) = server
        .post(
            "/_matrix/client/v3/logout",
            Some(&alice.access_token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "a locked user can still log out");

    // Only admins, only accounts of this server.
    let refused = put(&server, &bob, "lock", &root, json!({ "locked": true })).await;
    assert_error(&refused, StatusCode::FORBIDDEN, "M_FORBIDDEN");
    let unknown = server
        .put(
            "/_matrix/client/v1/admin/lock/@nobody:localhost",
            Some(&root.access_token),
            json!({ "locked": true }),
        )
        .await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "M_NOT_FOUND");
    let remote = server
        .put(
            "/_matrix/client/v1/admin/lock/@someone:elsewhere.example",
            Some(&root.access_token),
            json!({ "locked": true }),
        )
        .await;
    assert_error(&remote, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
}

/// Restrictions survive a restart (they are read back from the store).
#[tokio::test(flavor = "multi_thread")]
async fn restrictions_survive_a_restart() {
    let mut server = TestServer::start().await;
    let root = admin(&server).await;
    let alice = server.register("alice").await;
    put(
        &server,
        &root,
        "suspend",
        &alice,
        json!({ "suspended": true }),
    )
    .await;
    server.restart(|_| {}).await;
    let created = server
        .post(
            "/_matrix/client/v3/createRoom",
            Some(&alice.access_token),
            json!({}),
        )
        .await;
    assert_error(&created, StatusCode::FORBIDDEN, "M_USER_SUSPENDED");
}
