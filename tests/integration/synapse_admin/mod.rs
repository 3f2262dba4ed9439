//! Synapse's admin API on a running server: what web consoles and scripts read and change,
//! asserted by content, and `403` for everyone who is not a server administrator.

use crate::common::{PASSWORD, TestServer, TestUser, assert_error};
use reqwest::StatusCode;
use serde_json::{Value, Value::Null as JsonNull, json};

mod accounts;
mod history_media;
mod moderation;
mod rooms;
mod server;
mod user_data;

const SECRET: &str = "a shared secret for scripts";

async fn server_with_admin() -> (TestServer, TestUser) {
    let server = TestServer::start_with(|config| {
        config.registration.registration_shared_secret = Some(SECRET.into());
    })
    .await;
    let admin = server.register("root").await;
    let user_id = ruma::UserId::parse(admin.user_id.as_str()).expect("user id");
    server
        .server()
        .services()
        .users
        .set_admin(&user_id, true)
        .await
        .expect("admin");
    (server, admin)
}

/// Every family answers a user who is not an administrator with `403 M_FORBIDDEN`.
#[tokio::test(flavor = "multi_thread")]
async fn only_server_administrators_may_use_it() {
    let (server, _admin) = server_with_admin().await;
    let alice = server.register("alice").await;
    let token = Some(alice.access_token.as_str());
    let me = &alice.user_id;
    let room = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    let said = server.send_text(&alice, &room, "still here").await;
    for (method, path, body) in [
        ("GET", "/_synapse/admin/v2/users".to_owned(), None),
        ("GET", "/_synapse/admin/v3/users".to_owned(), None),
        ("GET", format!("/_synapse/admin/v2/users/{me}"), None),
        (
            "PUT",
            "/_synapse/admin/v2/users/@new:localhost".to_owned(),
            Some(json!({})),
        ),
        (
            "POST",
            format!("/_synapse/admin/v1/deactivate/{me}"),
            Some(json!({})),
        ),
        (
            "POST",
            format!("/_synapse/admin/v1/reset_password/{me}"),
            Some(json!({ "new_password": "another password" })),
        ),
        ("GET", format!("/_synapse/admin/v1/users/{me}/admin"), None),
        (
            "PUT",
            format!("/_synapse/admin/v1/users/{me}/admin"),
            Some(json!({ "admin": true })),
        ),
        ("GET", format!("/_synapse/admin/v1/whois/{me}"), None),
        (
            "GET",
            format!("/_synapse/admin/v1/users/{me}/joined_rooms"),
            None,
        ),
        (
            "GET",
            "/_synapse/admin/v1/username_available?username=x".to_owned(),
            None,
        ),
        (
            "POST",
            format!("/_synapse/admin/v1/users/{me}/shadow_ban"),
            Some(json!({})),
        ),
        (
            "POST",
            format!("/_synapse/admin/v1/users/{me}/override_ratelimit"),
            Some(json!({})),
        ),
        (
            "PUT",
            format!("/_synapse/admin/v1/suspend/{me}"),
            Some(json!({ "suspend": false })),
        ),
        (
            "POST",
            format!("/_synapse/admin/v1/user/{me}/redact"),
            Some(json!({ "rooms": [] })),
        ),
        (
            "GET",
            format!("/_synapse/admin/v1/users/{me}/memberships"),
            None,
        ),
        (
            "GET",
            format!("/_synapse/admin/v2/users/{me}/devices"),
            None,
        ),
        ("GET", format!("/_synapse/admin/v1/users/{me}/media"), None),
        // Rooms.
        ("GET", "/_synapse/admin/v1/rooms".to_owned(), None),
        ("GET", format!("/_synapse/admin/v1/rooms/{room}"), None),
        (
            "GET",
            format!("/_synapse/admin/v1/rooms/{room}/messages"),
            None,
        ),
        (
            "GET",
            format!("/_synapse/admin/v1/rooms/{room}/hierarchy"),
            None,
        ),
        (
            "POST",
            format!("/_synapse/admin/v1/purge_history/{room}"),
            Some(json!({ "purge_up_to_ts": 1 })),
        ),
        (
            "DELETE",
            format!("/_synapse/admin/v2/rooms/{room}"),
            Some(json!({})),
        ),
        (
            "DELETE",
            format!("/_synapse/admin/v1/rooms/{room}"),
            Some(json!({})),
        ),
        (
            "POST",
            format!("/_synapse/admin/v1/join/{room}"),
            Some(json!({ "user_id": me })),
        ),
        // Registration tokens, reports, notices, media, federation, statistics, tasks.
        (
            "GET",
            "/_synapse/admin/v1/registration_tokens".to_owned(),
            None,
        ),
        ("GET", "/_synapse/admin/v1/event_reports".to_owned(), None),
        ("GET", "/_synapse/admin/v1/room_reports".to_owned(), None),
        (
            "POST",
            "/_synapse/admin/v1/send_server_notice".to_owned(),
            Some(json!({ "user_id": me, "content": { "msgtype": "m.text", "body": "x" } })),
        ),
        (
            "POST",
            "/_synapse/admin/v1/media/delete?before_ts=1".to_owned(),
            Some(json!({})),
        ),
        (
            "POST",
            format!("/_synapse/admin/v1/room/{room}/media/quarantine"),
            Some(json!({})),
        ),
        (
            "GET",
            "/_synapse/admin/v1/federation/destinations".to_owned(),
            None,
        ),
        (
            "GET",
            "/_synapse/admin/v1/statistics/users/media".to_owned(),
            None,
        ),
        (
            "GET",
            "/_synapse/admin/v1/statistics/database/rooms".to_owned(),
            None,
        ),
        ("GET", "/_synapse/admin/v1/scheduled_tasks".to_owned(), None),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let answer = server.request(method.clone(), &path, token, body).await;
        assert_error(&answer, StatusCode::FORBIDDEN, "M_FORBIDDEN");
        let _ = (&method, &path);
    }
    // Nothing changed: Alice's room and message are there, unredacted.
    let (status, event) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/event/{said}"),
            token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{event}");
    assert_eq!(event["content"]["body"], "still here");
    // Nothing changed: Alice is no admin and still active.
    let account = server
        .server()
        .services()
        .users
        .account(&ruma::UserId::parse(me.as_str()).expect("id"))
        .expect("read")
        .expect("account");
    assert!(!account.admin && !account.deactivated);
    // The version is public, as in Synapse.
    let (status, body) = server.get("/_synapse/admin/v1/server_version", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body["server_version"]
            .as_str()
            .is_some_and(|version| version.starts_with("Myelin ")),
        "{body}"
    );
}

/// `register_new_matrix_user`'s way: a nonce, then an HMAC over nonce, user, password and the
/// admin flag; the account can log in and is an administrator. A wrong MAC or a used nonce
/// makes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn shared_secret_registration_makes_accounts_for_scripts() {
    let (server, _admin) = server_with_admin().await;
    let nonce = || async {
        let (status, body) = server.get("/_synapse/admin/v1/register", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["nonce"].as_str().expect("nonce").to_owned()
    };
    let mac = |nonce: &str, user: &str, password: &str, admin: bool| {
        synapse_admin_api::register_users::shared_secret_register::v1::hmac(
            SECRET, nonce, user, password, admin,
        )
        .expect("hmac")
    };

    let first = nonce().await;
    let wrong = server
        .post(
            "/_synapse/admin/v1/register",
            None,
            json!({ "nonce": first, "username": "mallory", "password": PASSWORD, "admin": true,
                    "mac": mac(&first, "mallory", PASSWORD, false) }),
        )
        .await;
    assert_error(&wrong, StatusCode::FORBIDDEN, "M_FORBIDDEN");
    // The nonce is spent by the failed attempt.
    let replay = server
        .post(
            "/_synapse/admin/v1/register",
            None,
            json!({ "nonce": first, "username": "mallory", "password": PASSWORD, "admin": true,
                    "mac": mac(&first, "mallory", PASSWORD, true) }),
        )
        .await;
    assert_error(&replay, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
    assert_eq!(
        server.login("mallory", PASSWORD).await.0,
        StatusCode::FORBIDDEN
    );

    let second = nonce().await;
    let (status, body) = server
        .post(
            "/_synapse/admin/v1/register",
            None,
            json!({ "nonce": second, "username": "Ops", "displayname": "Operations",
                    "password": PASSWORD, "admin": true,
                    "mac": mac(&second, "Ops", PASSWORD, true) }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user_id"], "@ops:localhost");
    assert_eq!(body["home_server"], "localhost");
    let token = body["access_token"].as_str().expect("token");
    // The new account is an administrator with its display name.
    let (status, details) = server
        .get("/_synapse/admin/v2/users/@ops:localhost", Some(token))
        .await;
    assert_eq!(status, StatusCode::OK, "{details}");
    assert_eq!(details["admin"], true);
    assert_eq!(details["displayname"], "Operations");
    assert_eq!(server.login("ops", PASSWORD).await.0, StatusCode::OK);
}

fn names(listing: &Value) -> Vec<String> {
    listing["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|user| user["name"].as_str().expect("name").to_owned())
        .collect()
}

/// A fresh token of Alice's (her first was logged out by the reset).
async fn admin_of_room(server: &TestServer, _alice: &TestUser) -> String {
    let (_, body) = server.login("alice", "alice's new password").await;
    body["access_token"].as_str().expect("token").to_owned()
}

/// The text of `event_id` as `user` reads it through `/messages`, `/event` and `/context`
/// (the same each way), or `None` when the content is gone.
async fn body_as_read_by(
    server: &TestServer,
    user: &TestUser,
    room_id: &str,
    event_id: &str,
) -> Option<String> {
    let token = Some(user.access_token.as_str());
    let (status, page) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=50"),
            token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let listed = page["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .find(|event| event["event_id"] == event_id)
        .unwrap_or_else(|| panic!("{event_id} is listed: {page}"))
        .clone();
    let (status, single) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/event/{event_id}"),
            token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{single}");
    let (status, context) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/context/{event_id}"),
            token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{context}");
    assert_eq!(listed["content"], single["content"]);
    assert_eq!(listed["content"], context["event"]["content"]);
    listed["content"]["body"].as_str().map(str::to_owned)
}

/// Whether `user` reads an event with `text` in the room's history.
async fn reads_text(server: &TestServer, user: &TestUser, room_id: &str, text: &str) -> bool {
    let (status, page) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=50"),
            Some(&user.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    crate::common::message_bodies(&page["chunk"]).contains(&text.to_owned())
}

/// The events of `room_id` whose sender is `sender`, as `reader` reads them.
async fn events_of(
    server: &TestServer,
    reader: &TestUser,
    room_id: &str,
    sender: &str,
    kind: &str,
) -> Vec<Value> {
    let (status, page) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=100"),
            Some(&reader.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .filter(|event| event["sender"] == sender && event["type"] == kind)
        .cloned()
        .collect()
}
