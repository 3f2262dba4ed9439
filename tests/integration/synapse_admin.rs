//! Synapse's admin API on a running server: what web consoles and scripts read and change,
//! asserted by content, and `403` for everyone who is not a server administrator.

use reqwest::StatusCode;
use serde_json::{Value, Value::Null as JsonNull, json};

use crate::common::{PASSWORD, TestServer, TestUser, assert_error};

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

/// The listing web consoles page through: fields, search, order, paging, and the
/// deactivated filter of v2 and v3.
#[tokio::test(flavor = "multi_thread")]
async fn accounts_are_listed_searched_and_paged() {
    let (server, admin) = server_with_admin().await;
    let token = Some(admin.access_token.as_str());
    for name in ["alice", "bob", "carol"] {
        server.register(name).await;
    }
    let (status, listing) = server.get("/_synapse/admin/v2/users", token).await;
    assert_eq!(status, StatusCode::OK, "{listing}");
    assert_eq!(listing["total"], 4);
    assert_eq!(
        names(&listing),
        [
            "@alice:localhost",
            "@bob:localhost",
            "@carol:localhost",
            "@root:localhost"
        ]
    );
    let root = &listing["users"][3];
    for field in [
        "displayname",
        "avatar_url",
        "creation_ts",
        "user_type",
        "last_seen_ts",
    ] {
        assert!(root.get(field).is_some(), "{field} missing from {root}");
    }
    assert_eq!(root["admin"], true);
    assert_eq!(root["deactivated"], false);
    assert_eq!(root["is_guest"], false);
    assert!(
        root["creation_ts"]
            .as_u64()
            .is_some_and(|ts| ts > 1_600_000_000_000)
    );

    let (_, page) = server
        .get("/_synapse/admin/v2/users?limit=2&dir=b", token)
        .await;
    assert_eq!(names(&page), ["@root:localhost", "@carol:localhost"]);
    assert_eq!(page["next_token"], "2");
    let (_, rest) = server
        .get("/_synapse/admin/v2/users?limit=2&dir=b&from=2", token)
        .await;
    assert_eq!(names(&rest), ["@bob:localhost", "@alice:localhost"]);
    assert!(rest.get("next_token").is_none());
    let (_, found) = server.get("/_synapse/admin/v2/users?name=aro", token).await;
    assert_eq!(names(&found), ["@carol:localhost"]);
    let (_, admins) = server
        .get("/_synapse/admin/v2/users?admins=true", token)
        .await;
    assert_eq!(names(&admins), ["@root:localhost"]);

    let (status, _) = server
        .post(
            "/_synapse/admin/v1/deactivate/@bob:localhost",
            token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, active) = server.get("/_synapse/admin/v2/users", token).await;
    assert!(!names(&active).contains(&"@bob:localhost".to_owned()));
    let (_, all) = server
        .get("/_synapse/admin/v2/users?deactivated=true", token)
        .await;
    assert!(names(&all).contains(&"@bob:localhost".to_owned()));
    let (_, only_deactivated) = server
        .get("/_synapse/admin/v3/users?deactivated=true", token)
        .await;
    assert_eq!(names(&only_deactivated), ["@bob:localhost"]);
}

/// Creating, changing, deactivating and bringing back an account with `PUT v2/users`.
#[tokio::test(flavor = "multi_thread")]
async fn accounts_are_created_changed_and_reactivated() {
    let (server, admin) = server_with_admin().await;
    let token = Some(admin.access_token.as_str());
    let path = "/_synapse/admin/v2/users/@dave:localhost";
    let (status, created) = server
        .put(
            path,
            token,
            json!({ "password": "dave's first password", "displayname": "Dave" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["name"], "@dave:localhost");
    assert_eq!(created["displayname"], "Dave");
    assert_eq!(created["admin"], false);
    let login = |password: &'static str| {
        server.post(
            "/_matrix/client/v3/login",
            None,
            json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": "dave" },
                    "password": password }),
        )
    };
    assert_eq!(login("dave's first password").await.0, StatusCode::OK);

    let (status, changed) = server
        .put(
            path,
            token,
            json!({ "displayname": "David", "admin": true }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["displayname"], "David");
    assert_eq!(changed["admin"], true);
    let (_, profile) = server
        .get(
            "/_matrix/client/v3/profile/@dave:localhost/displayname",
            None,
        )
        .await;
    assert_eq!(profile["displayname"], "David");

    let (status, gone) = server
        .put(path, token, json!({ "deactivated": true }))
        .await;
    assert_eq!(status, StatusCode::OK, "{gone}");
    assert_eq!(gone["deactivated"], true);
    assert_eq!(
        login("dave's first password").await.0,
        StatusCode::FORBIDDEN
    );
    let refused = server
        .put(path, token, json!({ "deactivated": false }))
        .await;
    assert_error(&refused, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
    let (status, back) = server
        .put(
            path,
            token,
            json!({ "deactivated": false, "password": "dave's second password" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{back}");
    assert_eq!(back["deactivated"], false);
    assert_eq!(login("dave's second password").await.0, StatusCode::OK);
    // Third-party ids are not kept here: refused, not ignored.
    let refused = server
        .put(
            path,
            token,
            json!({ "threepids": [{ "medium": "email", "address": "d@example.org" }] }),
        )
        .await;
    assert_error(&refused, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
}

/// Deactivation takes the user out of their rooms; a password reset logs their devices out;
/// admin rights, `whois`, joined rooms and name availability read as in Synapse.
#[tokio::test(flavor = "multi_thread")]
async fn users_are_deactivated_reset_promoted_and_inspected() {
    let (server, admin) = server_with_admin().await;
    let token = Some(admin.access_token.as_str());
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    assert_eq!(server.join(&bob, &room_id).await.0, StatusCode::OK);

    let (status, rooms) = server
        .get(
            "/_synapse/admin/v1/users/@bob:localhost/joined_rooms",
            token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rooms}");
    assert_eq!(
        rooms,
        json!({ "joined_rooms": [room_id.clone()], "total": 1 })
    );
    // Bob's client names itself; the administrator sees it, as in Synapse.
    let seen = crate::common::http_client()
        .get(format!("{}/_matrix/client/v3/account/whoami", server.url))
        .bearer_auth(&bob.access_token)
        .header("User-Agent", "Element/1.11 (test)")
        .send()
        .await
        .expect("whoami");
    assert_eq!(seen.status(), StatusCode::OK);
    let (status, whois) = server
        .get("/_synapse/admin/v1/whois/@bob:localhost", token)
        .await;
    assert_eq!(status, StatusCode::OK, "{whois}");
    assert_eq!(whois["user_id"], "@bob:localhost");
    assert_eq!(
        whois["devices"][bob.device_id.as_str()]["sessions"][0]["connections"][0]["user_agent"],
        "Element/1.11 (test)",
        "{whois}"
    );
    let (_, devices) = server
        .get("/_synapse/admin/v2/users/@bob:localhost/devices", token)
        .await;
    assert_eq!(
        devices["devices"][0]["last_seen_user_agent"], "Element/1.11 (test)",
        "{devices}"
    );

    // A password reset: the old password and the old token stop working.
    let (status, _) = server
        .post(
            "/_synapse/admin/v1/reset_password/@alice:localhost",
            token,
            json!({ "new_password": "alice's new password" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        server.login("alice", PASSWORD).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        server.login("alice", "alice's new password").await.0,
        StatusCode::OK
    );
    let (status, _) = server
        .get(
            "/_matrix/client/v3/account/whoami",
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Admin rights.
    let (_, before) = server
        .get("/_synapse/admin/v1/users/@bob:localhost/admin", token)
        .await;
    assert_eq!(before, json!({ "admin": false }));
    let (status, _) = server
        .put(
            "/_synapse/admin/v1/users/@bob:localhost/admin",
            token,
            json!({ "admin": true }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, after) = server
        .get("/_synapse/admin/v1/users/@bob:localhost/admin", token)
        .await;
    assert_eq!(after, json!({ "admin": true }));
    let demote_self = server
        .put(
            &format!("/_synapse/admin/v1/users/{}/admin", admin.user_id),
            token,
            json!({ "admin": false }),
        )
        .await;
    assert_error(&demote_self, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");

    // Deactivation: Bob leaves the room and his token stops working.
    let (status, _) = server
        .post(
            "/_synapse/admin/v1/deactivate/@bob:localhost",
            token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, members) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/joined_members"),
            Some(&admin_of_room(&server, &alice).await),
        )
        .await;
    assert!(
        members["joined"].get("@bob:localhost").is_none(),
        "{members}"
    );
    let (status, _) = server
        .get("/_matrix/client/v3/account/whoami", Some(&bob.access_token))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let taken = server
        .get(
            "/_synapse/admin/v1/username_available?username=alice",
            token,
        )
        .await;
    assert_error(&taken, StatusCode::BAD_REQUEST, "M_USER_IN_USE");
    let (status, free) = server
        .get("/_synapse/admin/v1/username_available?username=erin", token)
        .await;
    assert_eq!(status, StatusCode::OK, "{free}");
    assert_eq!(free, json!({ "available": true }));
}

/// A fresh token of Alice's (her first was logged out by the reset).
async fn admin_of_room(server: &TestServer, _alice: &TestUser) -> String {
    let (_, body) = server.login("alice", "alice's new password").await;
    body["access_token"].as_str().expect("token").to_owned()
}

/// The room list consoles show, a room's details, members and state.
#[tokio::test(flavor = "multi_thread")]
async fn rooms_are_listed_searched_and_inspected() {
    let (server, admin) = server_with_admin().await;
    let token = Some(admin.access_token.as_str());
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let lounge = server
        .create_room(
            &alice,
            json!({ "preset": "public_chat", "name": "The Lounge", "topic": "chat",
                    "room_alias_name": "lounge", "visibility": "public" }),
        )
        .await;
    assert_eq!(server.join(&bob, &lounge).await.0, StatusCode::OK);
    let secret = server
        .create_room(
            &alice,
            json!({ "preset": "private_chat", "name": "Secret",
                    "initial_state": [{ "type": "m.room.encryption", "state_key": "",
                                        "content": { "algorithm": "m.megolm.v1.aes-sha2" } }] }),
        )
        .await;

    let (status, listing) = server.get("/_synapse/admin/v1/rooms", token).await;
    assert_eq!(status, StatusCode::OK, "{listing}");
    assert_eq!(listing["total_rooms"], 2);
    assert_eq!(listing["offset"], 0);
    // Largest first.
    let first = &listing["rooms"][0];
    assert_eq!(first["room_id"], lounge.as_str());
    assert_eq!(first["name"], "The Lounge");
    assert_eq!(first["canonical_alias"], "#lounge:localhost");
    assert_eq!(first["joined_members"], 2);
    assert_eq!(first["joined_local_members"], 2);
    assert_eq!(first["creator"], alice.user_id.as_str());
    assert_eq!(first["public"], true);
    assert_eq!(first["join_rules"], "public");
    assert_eq!(first["federatable"], true);
    assert_eq!(first["version"], "12");
    assert!(
        first["state_events"]
            .as_u64()
            .is_some_and(|count| count >= 6),
        "{first}"
    );
    let second = &listing["rooms"][1];
    assert_eq!(second["room_id"], secret.as_str());
    assert_eq!(second["encryption"], "m.megolm.v1.aes-sha2");
    assert_eq!(second["public"], false);

    let (_, found) = server
        .get("/_synapse/admin/v1/rooms?search_term=secr", token)
        .await;
    assert_eq!(found["total_rooms"], 1);
    assert_eq!(found["rooms"][0]["room_id"], secret.as_str());
    let (_, by_name) = server
        .get("/_synapse/admin/v1/rooms?order_by=name&limit=1", token)
        .await;
    assert_eq!(by_name["rooms"][0]["name"], "Secret");
    assert_eq!(by_name["next_batch"], 1);

    let (status, details) = server
        .get(&format!("/_synapse/admin/v1/rooms/{lounge}"), token)
        .await;
    assert_eq!(status, StatusCode::OK, "{details}");
    assert_eq!(details["topic"], "chat");
    let (_, members) = server
        .get(&format!("/_synapse/admin/v1/rooms/{lounge}/members"), token)
        .await;
    assert_eq!(members["total"], 2);
    let mut names: Vec<&str> = members["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    names.sort_unstable();
    assert_eq!(names, [alice.user_id.as_str(), bob.user_id.as_str()]);
    let (_, state) = server
        .get(&format!("/_synapse/admin/v1/rooms/{lounge}/state"), token)
        .await;
    let topic = state["state"]
        .as_array()
        .expect("state")
        .iter()
        .find(|event| event["type"] == "m.room.topic")
        .expect("the topic event");
    assert_eq!(topic["content"]["topic"], "chat");
    assert_eq!(topic["room_id"], lounge.as_str());

    let missing = server
        .get("/_synapse/admin/v1/rooms/!nowhere:localhost", token)
        .await;
    assert_error(&missing, StatusCode::NOT_FOUND, "M_NOT_FOUND");
    for path in [
        "/_synapse/admin/v1/rooms".to_owned(),
        format!("/_synapse/admin/v1/rooms/{lounge}"),
        format!("/_synapse/admin/v1/rooms/{lounge}/members"),
        format!("/_synapse/admin/v1/rooms/{lounge}/state"),
    ] {
        let answer = server.get(&path, Some(&bob.access_token)).await;
        assert_error(&answer, StatusCode::FORBIDDEN, "M_FORBIDDEN");
    }
}

/// Devices, "log in as", pushers and account data of a user, as an administrator reads and
/// changes them.
#[tokio::test(flavor = "multi_thread")]
async fn a_users_devices_pushers_and_account_data() {
    let (server, admin) = server_with_admin().await;
    let token = Some(admin.access_token.as_str());
    let alice = server.register("alice").await;
    let (_, second) = server.login("alice", PASSWORD).await;
    let phone = crate::common::user_from(&second);
    let devices_path = "/_synapse/admin/v2/users/@alice:localhost/devices";

    let (status, listing) = server.get(devices_path, token).await;
    assert_eq!(status, StatusCode::OK, "{listing}");
    assert_eq!(listing["total"], 2);
    let ids: Vec<&str> = listing["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .filter_map(|device| device["device_id"].as_str())
        .collect();
    assert!(ids.contains(&alice.device_id.as_str()) && ids.contains(&phone.device_id.as_str()));
    assert_eq!(listing["devices"][0]["user_id"], "@alice:localhost");

    let device_path = format!("{devices_path}/{}", phone.device_id);
    let (status, _) = server
        .put(
            &device_path,
            token,
            json!({ "display_name": "Alice's phone" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, device) = server.get(&device_path, token).await;
    assert_eq!(device["display_name"], "Alice's phone");
    let (status, _) = server
        .request(reqwest::Method::DELETE, &device_path, token, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server
        .get(
            "/_matrix/client/v3/account/whoami",
            Some(&phone.access_token),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the deleted device's token is gone"
    );
    let missing = server.get(&device_path, token).await;
    assert_error(&missing, StatusCode::NOT_FOUND, "M_NOT_FOUND");

    // Log in as Alice.
    let (status, login) = server
        .post(
            "/_synapse/admin/v1/users/@alice:localhost/login",
            token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    let puppet = login["access_token"].as_str().expect("token");
    let (_, whoami) = server
        .get("/_matrix/client/v3/account/whoami", Some(puppet))
        .await;
    assert_eq!(whoami["user_id"], "@alice:localhost");
    // With a lifetime: the token works until then, and is refused after (as soft logout).
    let now = myelin_core::clock::now_ms();
    for (until, works) in [(now + 3_600_000, true), (now.saturating_sub(1), false)] {
        let (status, login) = server
            .post(
                "/_synapse/admin/v1/users/@alice:localhost/login",
                token,
                json!({ "valid_until_ms": until }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{login}");
        let answer = server
            .get(
                "/_matrix/client/v3/account/whoami",
                login["access_token"].as_str(),
            )
            .await;
        if works {
            assert_eq!(answer.1["user_id"], "@alice:localhost", "{}", answer.1);
        } else {
            assert_error(&answer, StatusCode::UNAUTHORIZED, "M_UNKNOWN_TOKEN");
            assert_eq!(answer.1["soft_logout"], true, "{}", answer.1);
        }
    }

    // Pushers and account data.
    let (status, body) = server
        .post(
            "/_matrix/client/v3/pushers/set",
            Some(&alice.access_token),
            json!({ "kind": "http", "app_id": "org.example.app", "pushkey": "key-1",
                    "app_display_name": "App", "device_display_name": "Phone", "lang": "en",
                    "data": { "url": "https://push.example.org/_matrix/push/v1/notify" } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, pushers) = server
        .get("/_synapse/admin/v1/users/@alice:localhost/pushers", token)
        .await;
    assert_eq!(pushers["total"], 1);
    assert_eq!(pushers["pushers"][0]["pushkey"], "key-1");
    assert_eq!(pushers["pushers"][0]["app_id"], "org.example.app");
    assert_eq!(
        pushers["pushers"][0]["data"]["url"],
        "https://push.example.org/_matrix/push/v1/notify"
    );
    let room_id = server.create_room(&alice, json!({})).await;
    let (status, _) = server
        .put(
            "/_matrix/client/v3/user/@alice:localhost/account_data/org.example.settings",
            Some(&alice.access_token),
            json!({ "theme": "dark" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server
        .put(
            &format!(
                "/_matrix/client/v3/user/@alice:localhost/rooms/{room_id}/account_data/org.example.room"
            ),
            Some(&alice.access_token),
            json!({ "pinned": true }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, data) = server
        .get(
            "/_synapse/admin/v1/users/@alice:localhost/accountdata",
            token,
        )
        .await;
    assert_eq!(
        data["account_data"]["global"]["org.example.settings"],
        json!({ "theme": "dark" })
    );
    assert_eq!(
        data["account_data"]["rooms"][room_id.as_str()]["org.example.room"],
        json!({ "pinned": true })
    );
}

/// Registration tokens made, listed by validity, used, changed and deleted.
#[tokio::test(flavor = "multi_thread")]
async fn registration_tokens_are_managed() {
    let (mut server, admin) = server_with_admin().await;
    // Registration needs a token from now on.
    server
        .restart(|config| config.registration.open = false)
        .await;
    let token = Some(admin.access_token.as_str());
    let (status, made) = server
        .post(
            "/_synapse/admin/v1/registration_tokens/new",
            token,
            json!({ "token": "welcome-1", "uses_allowed": 1 }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{made}");
    assert_eq!(
        made,
        json!({ "token": "welcome-1", "uses_allowed": 1, "pending": 0, "completed": 0,
                "expiry_time": null })
    );
    let (_, generated) = server
        .post(
            "/_synapse/admin/v1/registration_tokens/new",
            token,
            json!({ "length": 10 }),
        )
        .await;
    assert_eq!(generated["token"].as_str().map(str::len), Some(10));
    let taken = server
        .post(
            "/_synapse/admin/v1/registration_tokens/new",
            token,
            json!({ "token": "welcome-1" }),
        )
        .await;
    assert_error(&taken, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");

    // Someone registers with it: used up.
    let (status, flows) = server
        .post(
            "/_matrix/client/v3/register",
            None,
            json!({ "username": "newcomer", "password": PASSWORD }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{flows}");
    let (status, registered) = server
        .post(
            "/_matrix/client/v3/register",
            None,
            json!({ "username": "newcomer", "password": PASSWORD,
                    "auth": { "type": "m.login.registration_token", "token": "welcome-1",
                              "session": flows["session"] } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{registered}");
    assert_eq!(registered["user_id"], "@newcomer:localhost");
    let (_, used) = server
        .get("/_synapse/admin/v1/registration_tokens/welcome-1", token)
        .await;
    assert_eq!(used["completed"], 1, "{used}");
    let (_, invalid) = server
        .get("/_synapse/admin/v1/registration_tokens?valid=false", token)
        .await;
    assert_eq!(invalid["registration_tokens"][0]["token"], "welcome-1");
    let (_, still_valid) = server
        .get("/_synapse/admin/v1/registration_tokens?valid=true", token)
        .await;
    assert_eq!(
        still_valid["registration_tokens"].as_array().map(Vec::len),
        Some(1)
    );

    // Lifting the limit makes it valid again.
    let (status, lifted) = server
        .put(
            "/_synapse/admin/v1/registration_tokens/welcome-1",
            token,
            json!({ "uses_allowed": null }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{lifted}");
    assert_eq!(lifted["uses_allowed"], JsonNull);
    let (_, all_valid) = server
        .get("/_synapse/admin/v1/registration_tokens?valid=true", token)
        .await;
    assert_eq!(
        all_valid["registration_tokens"].as_array().map(Vec::len),
        Some(2)
    );

    let (status, _) = server
        .request(
            reqwest::Method::DELETE,
            "/_synapse/admin/v1/registration_tokens/welcome-1",
            token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let gone = server
        .get("/_synapse/admin/v1/registration_tokens/welcome-1", token)
        .await;
    assert_error(&gone, StatusCode::NOT_FOUND, "M_NOT_FOUND");
}

/// A reported event reaches the administrators' list with what they need to act, and can be
/// dismissed.
#[tokio::test(flavor = "multi_thread")]
async fn event_reports_are_listed_read_and_dismissed() {
    let (server, admin) = server_with_admin().await;
    let token = Some(admin.access_token.as_str());
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room_id = server
        .create_room(
            &alice,
            json!({ "preset": "public_chat", "name": "Town square" }),
        )
        .await;
    assert_eq!(server.join(&bob, &room_id).await.0, StatusCode::OK);
    let event_id = server.send_text(&bob, &room_id, "something rude").await;
    let (status, _) = server
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/report/{event_id}"),
            Some(&alice.access_token),
            json!({ "reason": "rude" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, listing) = server.get("/_synapse/admin/v1/event_reports", token).await;
    assert_eq!(status, StatusCode::OK, "{listing}");
    assert_eq!(listing["total"], 1);
    let report = &listing["event_reports"][0];
    assert_eq!(report["event_id"], event_id.as_str());
    assert_eq!(report["room_id"], room_id.as_str());
    assert_eq!(report["user_id"], alice.user_id.as_str());
    assert_eq!(report["sender"], bob.user_id.as_str());
    assert_eq!(report["reason"], "rude");
    assert_eq!(report["name"], "Town square");
    let id = report["id"].as_u64().expect("numeric id");
    let (_, filtered) = server
        .get(
            &format!("/_synapse/admin/v1/event_reports?user_id={}", bob.user_id),
            token,
        )
        .await;
    assert_eq!(filtered["total"], 0);

    let (status, details) = server
        .get(&format!("/_synapse/admin/v1/event_reports/{id}"), token)
        .await;
    assert_eq!(status, StatusCode::OK, "{details}");
    assert_eq!(details["event_json"]["content"]["body"], "something rude");
    let (status, _) = server
        .request(
            reqwest::Method::DELETE,
            &format!("/_synapse/admin/v1/event_reports/{id}"),
            token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, after) = server.get("/_synapse/admin/v1/event_reports", token).await;
    assert_eq!(after["total"], 0);
    let answer = server
        .get("/_synapse/admin/v1/event_reports", Some(&bob.access_token))
        .await;
    assert_error(&answer, StatusCode::FORBIDDEN, "M_FORBIDDEN");

    // A room report (spec 1.13) is listed with the room reports, not the event reports.
    let (status, _) = server
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/report"),
            Some(&bob.access_token),
            json!({ "reason": "the whole room" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, rooms) = server.get("/_synapse/admin/v1/room_reports", token).await;
    assert_eq!(status, StatusCode::OK, "{rooms}");
    assert_eq!(rooms["total"], 1, "{rooms}");
    let report = &rooms["room_reports"][0];
    assert_eq!(report["room_id"], room_id.as_str());
    assert_eq!(report["user_id"], bob.user_id.as_str());
    assert_eq!(report["reason"], "the whole room");
    assert_eq!(report["name"], "Town square");
    assert!(report["id"].as_u64().is_some(), "{report}");
    let (_, none) = server
        .get(
            &format!("/_synapse/admin/v1/room_reports?user_id={}", alice.user_id),
            token,
        )
        .await;
    assert_eq!(none["total"], 0);
    let (_, events) = server.get("/_synapse/admin/v1/event_reports", token).await;
    assert_eq!(events["total"], 0);
    let room_report = report["id"].as_u64().expect("id");
    // Found under its own kind only.
    let elsewhere = server
        .get(
            &format!("/_synapse/admin/v1/event_reports/{room_report}"),
            token,
        )
        .await;
    assert_error(&elsewhere, StatusCode::NOT_FOUND, "M_NOT_FOUND");
    let (status, one) = server
        .get(
            &format!("/_synapse/admin/v1/room_reports/{room_report}"),
            token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["reason"], "the whole room");

    // A user report (spec 1.14).
    let (status, _) = server
        .post(
            &format!("/_matrix/client/v3/users/{}/report", alice.user_id),
            Some(&bob.access_token),
            json!({ "reason": "rude in private" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, users) = server
        .get(
            &format!(
                "/_synapse/admin/v1/user_reports?target_user_id={}",
                alice.user_id
            ),
            token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{users}");
    assert_eq!(users["total"], 1, "{users}");
    let user_report = &users["user_reports"][0];
    assert_eq!(user_report["target_user_id"], alice.user_id.as_str());
    assert_eq!(user_report["user_id"], bob.user_id.as_str());
    assert_eq!(user_report["reason"], "rude in private");
    let user_report = user_report["id"].as_u64().expect("id");
    let (_, nobody) = server
        .get(
            &format!(
                "/_synapse/admin/v1/user_reports?target_user_id={}",
                bob.user_id
            ),
            token,
        )
        .await;
    assert_eq!(nobody["total"], 0);
    let (status, one) = server
        .get(
            &format!("/_synapse/admin/v1/user_reports/{user_report}"),
            token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["target_user_id"], alice.user_id.as_str());

    // Dismissed, each from its own list.
    for path in [
        format!("/_synapse/admin/v1/room_reports/{room_report}"),
        format!("/_synapse/admin/v1/user_reports/{user_report}"),
    ] {
        let (status, _) = server
            .request(reqwest::Method::DELETE, &path, token, None)
            .await;
        assert_eq!(status, StatusCode::OK, "{path}");
        let gone = server.get(&path, token).await;
        assert_error(&gone, StatusCode::NOT_FOUND, "M_NOT_FOUND");
    }
    let (_, rooms) = server.get("/_synapse/admin/v1/room_reports", token).await;
    let (_, users) = server.get("/_synapse/admin/v1/user_reports", token).await;
    assert_eq!(
        (rooms["total"].clone(), users["total"].clone()),
        (json!(0), json!(0))
    );
}

/// An administrator joins a local user to a public room, and to an invite-only room they are in
/// (inviting first); a room the administrator cannot open stays closed.
#[tokio::test(flavor = "multi_thread")]
async fn users_are_joined_to_rooms_by_an_administrator() {
    let (server, admin) = server_with_admin().await;
    let token = Some(admin.access_token.as_str());
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let public = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    let (status, joined) = server
        .post(
            &format!("/_synapse/admin/v1/join/{public}"),
            token,
            json!({ "user_id": bob.user_id }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    assert_eq!(joined["room_id"], public.as_str());
    let (_, rooms) = server
        .get("/_matrix/client/v3/joined_rooms", Some(&bob.access_token))
        .await;
    assert_eq!(rooms["joined_rooms"], json!([public.clone()]));

    // Alice's private room: the administrator is not in it.
    let private = server
        .create_room(&alice, json!({ "preset": "private_chat" }))
        .await;
    let closed = server
        .post(
            &format!("/_synapse/admin/v1/join/{private}"),
            token,
            json!({ "user_id": bob.user_id }),
        )
        .await;
    assert_error(&closed, StatusCode::FORBIDDEN, "M_FORBIDDEN");
    // The administrator's own private room: Bob is invited, then joined.
    let own = server
        .create_room(&admin, json!({ "preset": "private_chat" }))
        .await;
    let (status, joined) = server
        .post(
            &format!("/_synapse/admin/v1/join/{own}"),
            token,
            json!({ "user_id": bob.user_id }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    let (_, members) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{own}/joined_members"),
            token,
        )
        .await;
    assert!(
        members["joined"].get(bob.user_id.as_str()).is_some(),
        "{members}"
    );
}

/// A blocked room keeps its members but takes no new local ones; the block can be lifted.
#[tokio::test(flavor = "multi_thread")]
async fn blocked_rooms_take_no_new_local_members() {
    let (server, admin) = server_with_admin().await;
    let token = Some(admin.access_token.as_str());
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    let path = format!("/_synapse/admin/v1/rooms/{room_id}/block");
    let (_, before) = server.get(&path, token).await;
    assert_eq!(before, json!({ "block": false }));
    let (status, blocked) = server.put(&path, token, json!({ "block": true })).await;
    assert_eq!(status, StatusCode::OK, "{blocked}");
    let (_, now) = server.get(&path, token).await;
    assert_eq!(now, json!({ "block": true, "user_id": admin.user_id }));
    let refused = server.join(&bob, &room_id).await;
    assert_error(&refused, StatusCode::FORBIDDEN, "M_FORBIDDEN");
    // Alice, already in, still talks.
    server.send_text(&alice, &room_id, "still here").await;
    let (status, _) = server.put(&path, token, json!({ "block": false })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(server.join(&bob, &room_id).await.0, StatusCode::OK);
}

/// The destinations list shows a server that went down as failing, with its backoff, and
/// `reset_connection` sends its queue at once when it is back.
#[tokio::test(flavor = "multi_thread")]
async fn federation_destinations_show_failures_and_can_be_reset() {
    let (a, _) = TestServer::start_federated().await;
    let (mut b, b_port) = TestServer::start_federated().await;
    let admin = a.register("root").await;
    a.server()
        .services()
        .users
        .set_admin(
            &ruma::UserId::parse(admin.user_id.as_str()).expect("id"),
            true,
        )
        .await
        .expect("admin");
    let token = Some(admin.access_token.as_str());
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let room_id = a
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    let joined = b
        .post(
            &format!(
                "/_matrix/client/v3/join/{room_id}?server_name={}",
                a.server_name()
            ),
            Some(&bob.access_token),
            json!({}),
        )
        .await;
    assert_eq!(joined.0, StatusCode::OK, "{}", joined.1);
    let b_name = b.server_name();
    let path = format!("/_synapse/admin/v1/federation/destinations/{b_name}");
    a.send_text(&alice, &room_id, "while up").await;

    b.stop().await;
    a.send_text(&alice, &room_id, "while down").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let failing = loop {
        let (status, destination) = a.get(&path, token).await;
        assert_eq!(status, StatusCode::OK, "{destination}");
        if destination["failure_ts"].is_u64() {
            break destination;
        }
        assert!(std::time::Instant::now() < deadline, "{destination}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert!(
        failing["retry_interval"]
            .as_u64()
            .is_some_and(|ms| ms >= 1000),
        "{failing}"
    );
    let (_, listing) = a
        .get("/_synapse/admin/v1/federation/destinations", token)
        .await;
    assert!(
        listing["destinations"]
            .as_array()
            .expect("destinations")
            .iter()
            .any(|destination| destination["destination"] == b_name.as_str()),
        "{listing}"
    );
    let (_, rooms) = a.get(&format!("{path}/rooms"), token).await;
    assert_eq!(rooms["rooms"][0]["room_id"], room_id.as_str());

    b.restart(|config| crate::common::federated(config, b_port))
        .await;
    let (status, _) = a
        .post(&format!("{path}/reset_connection"), token, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    b.sync_until(&bob, 15, |syncs| {
        crate::common::message_bodies(&Value::Array(crate::common::timeline_events(
            syncs, &room_id,
        )))
        .contains(&"while down".to_owned())
    })
    .await;
    // The worker records the success right after the transaction is answered.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, recovered) = a.get(&path, token).await;
        if recovered["failure_ts"].is_null() && recovered["retry_interval"] == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{recovered}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let unknown = a
        .get(
            "/_synapse/admin/v1/federation/destinations/nowhere.example",
            token,
        )
        .await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "M_NOT_FOUND");
}

/// A user's uploads listed, quarantined (served to nobody), protected, and deleted one by one,
/// by date, or all at once.
#[tokio::test(flavor = "multi_thread")]
async fn media_is_listed_quarantined_protected_and_deleted() {
    use crate::media::{download, upload};
    let (server, admin) = server_with_admin().await;
    let token = Some(admin.access_token.as_str());
    let alice = server.register("alice").await;
    let mut ids = Vec::new();
    for (bytes, name) in [
        (b"first file".to_vec(), "one.txt"),
        (b"second file".to_vec(), "two.txt"),
    ] {
        let (status, uploaded) = upload(&server, &alice, bytes, "text/plain", Some(name)).await;
        assert_eq!(status, StatusCode::OK, "{uploaded}");
        let uri = uploaded["content_uri"].as_str().expect("uri");
        ids.push(uri.rsplit('/').next().expect("id").to_owned());
    }
    let (status, listing) = server
        .get("/_synapse/admin/v1/users/@alice:localhost/media", token)
        .await;
    assert_eq!(status, StatusCode::OK, "{listing}");
    assert_eq!(listing["total"], 2);
    let (_, info) = server
        .get(
            &format!("/_synapse/admin/v1/media/localhost/{}", ids[0]),
            token,
        )
        .await;
    let info = &info["media_info"];
    assert_eq!(info["media_id"], ids[0].as_str());
    assert_eq!(info["media_length"], 10);
    assert_eq!(info["media_type"], "text/plain");
    assert_eq!(info["upload_name"], "one.txt");
    assert_eq!(info["user_id"], "@alice:localhost");
    assert_eq!(info["quarantined_by"], JsonNull);

    let path = |id: &str| format!("/_matrix/client/v1/media/download/localhost/{id}");
    let fetch = |id: String| {
        let server = &server;
        let token = alice.access_token.clone();
        async move {
            download(server, Some(&token), &path(&id), None)
                .await
                .status()
        }
    };
    let (status, _) = server
        .post(
            &format!("/_synapse/admin/v1/media/quarantine/localhost/{}", ids[0]),
            token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetch(ids[0].clone()).await, StatusCode::NOT_FOUND);
    let (_, info) = server
        .get(
            &format!("/_synapse/admin/v1/media/localhost/{}", ids[0]),
            token,
        )
        .await;
    assert_eq!(info["media_info"]["quarantined_by"], admin.user_id.as_str());
    server
        .post(
            &format!("/_synapse/admin/v1/media/unquarantine/localhost/{}", ids[0]),
            token,
            json!({}),
        )
        .await;
    assert_eq!(fetch(ids[0].clone()).await, StatusCode::OK);

    // Protected media cannot be quarantined, and survives deletion by date.
    server
        .post(
            &format!("/_synapse/admin/v1/media/protect/{}", ids[1]),
            token,
            json!({}),
        )
        .await;
    let refused = server
        .post(
            &format!("/_synapse/admin/v1/media/quarantine/localhost/{}", ids[1]),
            token,
            json!({}),
        )
        .await;
    assert_error(&refused, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
    // An avatar survives deletion by date unless `keep_profiles=false`.
    let (_, avatar) = upload(&server, &alice, b"a face".to_vec(), "image/png", None).await;
    let avatar_uri = avatar["content_uri"].as_str().expect("uri").to_owned();
    let avatar_id = avatar_uri.rsplit('/').next().expect("id").to_owned();
    let (status, _) = server
        .put(
            "/_matrix/client/v3/profile/@alice:localhost/avatar_url",
            Some(&alice.access_token),
            json!({ "avatar_url": avatar_uri }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let later = myelin_core::clock::now_ms() + 60_000;
    let (status, purged) = server
        .post(
            &format!("/_synapse/admin/v1/media/localhost/delete?before_ts={later}"),
            token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{purged}");
    assert_eq!(
        purged,
        json!({ "deleted_media": [ids[0].clone()], "total": 1 })
    );
    assert_eq!(fetch(ids[0].clone()).await, StatusCode::NOT_FOUND);
    assert_eq!(fetch(ids[1].clone()).await, StatusCode::OK);
    assert_eq!(fetch(avatar_id.clone()).await, StatusCode::OK);
    let (status, purged) = server
        .post(
            &format!("/_synapse/admin/v1/media/delete?before_ts={later}&keep_profiles=false"),
            token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{purged}");
    assert_eq!(
        purged,
        json!({ "deleted_media": [avatar_id.clone()], "total": 1 })
    );
    assert_eq!(fetch(ids[1].clone()).await, StatusCode::OK);
    let (_, cache) = server
        .post(
            &format!("/_synapse/admin/v1/purge_media_cache?before_ts={later}"),
            token,
            json!({}),
        )
        .await;
    assert_eq!(cache, json!({ "deleted": 0 }));

    let (status, gone) = server
        .request(
            reqwest::Method::DELETE,
            "/_synapse/admin/v1/users/@alice:localhost/media",
            token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{gone}");
    assert_eq!(gone["total"], 1);
    assert_eq!(fetch(ids[1].clone()).await, StatusCode::NOT_FOUND);
    let (_, empty) = server
        .get("/_synapse/admin/v1/users/@alice:localhost/media", token)
        .await;
    assert_eq!(empty["total"], 0);
}

/// Server notices reach the user in a room of their own with the notices account, tagged
/// `m.server_notice`, where only the notices account speaks; a retried transaction sends once.
#[tokio::test(flavor = "multi_thread")]
async fn server_notices_arrive_in_the_users_notices_room() {
    let server = TestServer::start_with(|config| {
        config.server_notices.system_mxid_localpart = Some("notices".into());
        config.server_notices.system_mxid_display_name = Some("Notices".into());
    })
    .await;
    let admin = server.register("root").await;
    server
        .server()
        .services()
        .users
        .set_admin(
            &ruma::UserId::parse(admin.user_id.as_str()).expect("id"),
            true,
        )
        .await
        .expect("admin");
    let token = Some(admin.access_token.as_str());
    let alice = server.register("alice").await;
    let notice = |text: &str| {
        json!({ "user_id": alice.user_id,
                "content": { "msgtype": "m.text", "body": text } })
    };
    let (status, first) = server
        .post(
            "/_synapse/admin/v1/send_server_notice",
            token,
            notice("maintenance at noon"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert!(
        first["event_id"]
            .as_str()
            .is_some_and(|id| id.starts_with('$'))
    );

    let sync = server.sync(&alice, None, 0).await;
    let invites = sync["rooms"]["invite"].as_object().expect("invites");
    assert_eq!(invites.len(), 1, "{sync}");
    let (room_id, invite) = invites.iter().next().expect("the notices room");
    let name = invite["invite_state"]["events"]
        .as_array()
        .expect("stripped state")
        .iter()
        .find(|event| event["type"] == "m.room.name")
        .map(|event| event["content"]["name"].clone());
    assert_eq!(name, Some(json!("Server Notices")));
    assert_eq!(server.join(&alice, room_id).await.0, StatusCode::OK);
    let (_, tags) = server
        .get(
            &format!(
                "/_matrix/client/v3/user/{}/rooms/{room_id}/tags",
                alice.user_id
            ),
            Some(&alice.access_token),
        )
        .await;
    assert!(tags["tags"].get("m.server_notice").is_some(), "{tags}");

    // A second notice, twice with one transaction id: one more message, same room.
    let path = "/_synapse/admin/v1/send_server_notice/txn-1";
    let (_, once) = server.put(path, token, notice("done")).await;
    let (_, twice) = server.put(path, token, notice("done")).await;
    assert_eq!(once["event_id"], twice["event_id"]);
    let (_, messages) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=50"),
            Some(&alice.access_token),
        )
        .await;
    let bodies = crate::common::message_bodies(&messages["chunk"]);
    assert_eq!(bodies, ["done", "maintenance at noon"], "{messages}");
    let senders: Vec<&str> = messages["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .filter(|event| event["type"] == "m.room.message")
        .filter_map(|event| event["sender"].as_str())
        .collect();
    assert_eq!(senders, ["@notices:localhost", "@notices:localhost"]);
    // Only the notices account speaks there.
    let refused = server
        .send_text_result(&alice, room_id, "can I answer?")
        .await;
    assert_eq!(refused.0, StatusCode::FORBIDDEN, "{}", refused.1);
}

/// Without a notices account, notices are refused, not dropped.
#[tokio::test(flavor = "multi_thread")]
async fn server_notices_are_refused_when_not_configured() {
    let (server, admin) = server_with_admin().await;
    let alice = server.register("alice").await;
    let refused = server
        .post(
            "/_synapse/admin/v1/send_server_notice",
            Some(&admin.access_token),
            json!({ "user_id": alice.user_id, "content": { "msgtype": "m.text", "body": "hi" } }),
        )
        .await;
    assert_error(&refused, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
}

/// Shutting a room down: its members leave, it leaves the directory and loses its aliases, it
/// is blocked, and with `purge` its events are gone from the store; the status endpoints say so.
#[tokio::test(flavor = "multi_thread")]
async fn rooms_are_shut_down_blocked_and_purged() {
    let (server, admin) = server_with_admin().await;
    let token = Some(admin.access_token.as_str());
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room_id = server
        .create_room(
            &alice,
            json!({ "preset": "public_chat", "visibility": "public", "room_alias_name": "doomed",
                    "name": "Doomed" }),
        )
        .await;
    assert_eq!(server.join(&bob, &room_id).await.0, StatusCode::OK);
    let event_id = server.send_text(&bob, &room_id, "last words").await;
    let (_, directory) = server.get("/_matrix/client/v3/publicRooms", None).await;
    assert_eq!(directory["chunk"][0]["room_id"], room_id.as_str());
    let since = server.sync(&alice, None, 0).await["next_batch"]
        .as_str()
        .expect("next_batch")
        .to_owned();

    let (status, deleted) = server
        .request(
            reqwest::Method::DELETE,
            &format!("/_synapse/admin/v2/rooms/{room_id}"),
            token,
            Some(json!({ "block": true, "purge": true })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    let delete_id = deleted["delete_id"].as_str().expect("delete id");
    let (_, by_id) = server
        .get(
            &format!("/_synapse/admin/v2/rooms/delete_status/{delete_id}"),
            token,
        )
        .await;
    assert_eq!(by_id["status"], "complete");
    let mut kicked: Vec<&str> = by_id["shutdown_room"]["kicked_users"]
        .as_array()
        .expect("kicked")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    kicked.sort_unstable();
    assert_eq!(kicked, [alice.user_id.as_str(), bob.user_id.as_str()]);
    assert_eq!(
        by_id["shutdown_room"]["local_aliases"],
        json!(["#doomed:localhost"])
    );
    let (_, by_room) = server
        .get(
            &format!("/_synapse/admin/v2/rooms/{room_id}/delete_status"),
            token,
        )
        .await;
    assert_eq!(by_room["results"][0]["delete_id"], delete_id);

    let (_, directory) = server.get("/_matrix/client/v3/publicRooms", None).await;
    assert_eq!(directory["chunk"], json!([]));
    let alias = server
        .get(
            "/_matrix/client/v3/directory/room/%23doomed:localhost",
            None,
        )
        .await;
    assert_error(&alias, StatusCode::NOT_FOUND, "M_NOT_FOUND");
    let (_, rooms) = server
        .get("/_matrix/client/v3/joined_rooms", Some(&bob.access_token))
        .await;
    assert_eq!(rooms["joined_rooms"], json!([]));
    let gone = server
        .get(&format!("/_synapse/admin/v1/rooms/{room_id}"), token)
        .await;
    assert_error(&gone, StatusCode::NOT_FOUND, "M_NOT_FOUND");
    // Purged: the events are not in the store any more.
    let services = server.server().services();
    let event = ruma::EventId::parse(event_id.as_str()).expect("event id");
    assert!(services.rooms.pdu(&event).expect("read").is_none());
    let room = ruma::RoomId::parse(room_id.as_str()).expect("room id");
    assert!(services.rooms.room_info(&room).expect("read").is_none());
    // Syncing on, from before and afresh, works and shows no trace of the room's timeline.
    for since in [Some(since.as_str()), None] {
        let (status, sync) = server
            .get(
                &format!(
                    "/_matrix/client/v3/sync?timeout=0{}",
                    since
                        .map(|since| format!("&since={since}"))
                        .unwrap_or_default()
                ),
                Some(&alice.access_token),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{sync}");
        assert!(
            sync["rooms"]["join"].get(room_id.as_str()).is_none(),
            "{sync}"
        );
    }
    // Blocked: nobody local joins again.
    let refused = server.join(&bob, &room_id).await;
    assert_error(&refused, StatusCode::FORBIDDEN, "M_FORBIDDEN");
}

/// `make_room_admin` raises a user through the local member with the most power; forward
/// extremities, media statistics and a user's media quarantine read as in Synapse.
#[tokio::test(flavor = "multi_thread")]
async fn room_admins_extremities_and_media_statistics() {
    use crate::media::upload;
    let (server, admin) = server_with_admin().await;
    let token = Some(admin.access_token.as_str());
    let alice = server.register("alice").await;
    let room_id = server
        .create_room(
            &alice,
            json!({ "preset": "private_chat", "room_version": "11" }),
        )
        .await;
    let (status, body) = server
        .post(
            &format!("/_synapse/admin/v1/rooms/{room_id}/make_room_admin"),
            token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, levels) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.power_levels/"),
            token,
        )
        .await;
    assert_eq!(levels["users"][admin.user_id.as_str()], 100, "{levels}");

    let (_, extremities) = server
        .get(
            &format!("/_synapse/admin/v1/rooms/{room_id}/forward_extremities"),
            token,
        )
        .await;
    assert_eq!(extremities["count"], 1);
    assert!(
        extremities["results"][0]["event_id"]
            .as_str()
            .is_some_and(|id| id.starts_with('$'))
    );
    assert!(
        extremities["results"][0]["depth"]
            .as_u64()
            .is_some_and(|depth| depth > 1)
    );

    for size in [10, 20] {
        let (status, _) = upload(&server, &alice, vec![7; size], "text/plain", None).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (_, stats) = server
        .get("/_synapse/admin/v1/statistics/users/media", token)
        .await;
    assert_eq!(stats["total"], 1);
    assert_eq!(stats["users"][0]["user_id"], alice.user_id.as_str());
    assert_eq!(stats["users"][0]["media_count"], 2);
    assert_eq!(stats["users"][0]["media_length"], 30);
    let (_, quarantined) = server
        .post(
            "/_synapse/admin/v1/user/@alice:localhost/media/quarantine",
            token,
            json!({}),
        )
        .await;
    assert_eq!(quarantined, json!({ "num_quarantined": 2 }));
    let (_, listing) = server
        .get("/_synapse/admin/v1/users/@alice:localhost/media", token)
        .await;
    assert!(
        listing["media"]
            .as_array()
            .expect("media")
            .iter()
            .all(|media| media["quarantined_by"] == admin.user_id.as_str()),
        "{listing}"
    );
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

/// Erasure as Synapse does it: those in the room when an erased user spoke still read it; those
/// who join later read it redacted, cannot find it by search, and the user is gone from the
/// directory with their profile. The client's own `/account/deactivate` with `erase` does the same.
#[tokio::test(flavor = "multi_thread")]
async fn erased_users_messages_are_redacted_for_later_joiners() {
    let (server, admin) = server_with_admin().await;
    let token = Some(admin.access_token.as_str());
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    for user in [&bob, &carol] {
        assert_eq!(server.join(user, &room_id).await.0, StatusCode::OK);
    }
    let (status, _) = server
        .put(
            "/_matrix/client/v3/profile/@bob:localhost/displayname",
            Some(&bob.access_token),
            json!({ "displayname": "Bob Builder" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let spoken = server
        .send_text(&bob, &room_id, "bob's unforgettable secret")
        .await;
    let alices = server.send_text(&alice, &room_id, "alice's reply").await;

    let (status, answer) = server
        .post(
            "/_synapse/admin/v1/deactivate/@bob:localhost",
            token,
            json!({ "erase": true }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (_, details) = server
        .get("/_synapse/admin/v2/users/@bob:localhost", token)
        .await;
    assert_eq!(details["erased"], true, "{details}");
    assert_eq!(details["deactivated"], true, "{details}");
    assert_eq!(details["displayname"], JsonNull, "{details}");

    // Carol was there: she still reads Bob's words.
    assert_eq!(
        body_as_read_by(&server, &carol, &room_id, &spoken)
            .await
            .as_deref(),
        Some("bob's unforgettable secret")
    );
    // Dave joins later: the event is there, without its content; others' events are whole.
    let dave = server.register("dave").await;
    assert_eq!(server.join(&dave, &room_id).await.0, StatusCode::OK);
    assert_eq!(
        body_as_read_by(&server, &dave, &room_id, &spoken).await,
        None
    );
    assert_eq!(
        body_as_read_by(&server, &dave, &room_id, &alices)
            .await
            .as_deref(),
        Some("alice's reply")
    );
    let sync = server.sync(&dave, None, 0).await;
    let timeline = &sync["rooms"]["join"][&room_id]["timeline"]["events"];
    let in_sync = timeline
        .as_array()
        .expect("timeline")
        .iter()
        .find(|event| event["event_id"] == spoken.as_str())
        .unwrap_or_else(|| panic!("Bob's event in Dave's sync: {timeline}"));
    assert_eq!(in_sync["content"], json!({}), "{in_sync}");
    // Sliding sync (what Element X uses) shows it redacted too.
    let (status, sliding) = server
        .post(
            "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync",
            Some(&dave.access_token),
            json!({ "lists": { "all": { "ranges": [[0, 9]], "timeline_limit": 20 } } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{sliding}");
    let window = sliding["rooms"][&room_id]["timeline"]
        .as_array()
        .unwrap_or_else(|| panic!("a timeline: {sliding}"));
    let slid = window
        .iter()
        .find(|event| event["event_id"] == spoken.as_str())
        .unwrap_or_else(|| panic!("Bob's event in Dave's sliding sync: {sliding}"));
    assert_eq!(slid["content"], json!({}), "{slid}");
    let search =
        json!({ "search_categories": { "room_events": { "search_term": "unforgettable" } } });
    let (_, found) = server
        .post(
            "/_matrix/client/v3/search",
            Some(&dave.access_token),
            search.clone(),
        )
        .await;
    assert_eq!(
        found["search_categories"]["room_events"]["count"], 0,
        "{found}"
    );
    let (_, found) = server
        .post(
            "/_matrix/client/v3/search",
            Some(&carol.access_token),
            search,
        )
        .await;
    assert_eq!(
        found["search_categories"]["room_events"]["count"], 1,
        "{found}"
    );
    // Gone from the user directory.
    let (status, directory) = server
        .post(
            "/_matrix/client/v3/user_directory/search",
            Some(&carol.access_token),
            json!({ "search_term": "bob" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{directory}");
    assert_eq!(directory["results"], json!([]), "{directory}");

    // A user's own erasure: Carol erases herself; Erin, joining after, reads her words redacted.
    let said = server.send_text(&carol, &room_id, "carol was here").await;
    let (status, uia) = server
        .post(
            "/_matrix/client/v3/account/deactivate",
            Some(&carol.access_token),
            json!({ "erase": true }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{uia}");
    let session = uia["session"].as_str().map(str::to_owned);
    let (status, done) = server
        .post(
            "/_matrix/client/v3/account/deactivate",
            Some(&carol.access_token),
            json!({
                "erase": true,
                "auth": TestServer::password_auth(&carol, session.as_deref()),
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    let erin = server.register("erin").await;
    assert_eq!(server.join(&erin, &room_id).await.0, StatusCode::OK);
    assert_eq!(body_as_read_by(&server, &erin, &room_id, &said).await, None);
    assert_eq!(
        body_as_read_by(&server, &alice, &room_id, &said)
            .await
            .as_deref(),
        Some("carol was here")
    );
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

/// A shadow-banned user's messages, invites and rooms with invites seem to go through and reach
/// nobody; lifting the ban lets them through again.
#[tokio::test(flavor = "multi_thread")]
async fn shadow_banned_users_reach_nobody() {
    let (server, admin) = server_with_admin().await;
    let token = Some(admin.access_token.as_str());
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    assert_eq!(server.join(&bob, &room_id).await.0, StatusCode::OK);

    let (status, answer) = server
        .post(
            "/_synapse/admin/v1/users/@bob:localhost/shadow_ban",
            token,
            json!({}),
        )
        .await;
    assert_eq!((status, answer), (StatusCode::OK, json!({})));
    let (_, details) = server
        .get("/_synapse/admin/v2/users/@bob:localhost", token)
        .await;
    assert_eq!(details["shadow_banned"], true, "{details}");

    // A message: an event id comes back, nobody (not even Bob) can read it.
    let (status, sent) = server
        .send_text_result(&bob, &room_id, "nobody hears this")
        .await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    let event_id = sent["event_id"].as_str().expect("an event id");
    assert!(event_id.starts_with('$'), "{sent}");
    assert!(!reads_text(&server, &alice, &room_id, "nobody hears this").await);
    let lost = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/event/{event_id}"),
            Some(&bob.access_token),
        )
        .await;
    assert_error(&lost, StatusCode::NOT_FOUND, "M_NOT_FOUND");
    // An invite and a room made with an invite: Carol is invited nowhere.
    let (status, _) = server
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/invite"),
            Some(&bob.access_token),
            json!({ "user_id": carol.user_id }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, created) = server
        .post(
            "/_matrix/client/v3/createRoom",
            Some(&bob.access_token),
            json!({ "invite": [carol.user_id] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert!(created["room_id"].as_str().is_some(), "{created}");
    let sync = server.sync(&carol, None, 0).await;
    assert_eq!(sync["rooms"]["invite"], json!({}), "{sync}");
    let (_, members) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/members"),
            Some(&alice.access_token),
        )
        .await;
    assert!(
        !members.to_string().contains("@carol:localhost"),
        "{members}"
    );

    // Lifted: Bob is heard again.
    let (status, _) = server
        .request(
            reqwest::Method::DELETE,
            "/_synapse/admin/v1/users/@bob:localhost/shadow_ban",
            token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    server.send_text(&bob, &room_id, "heard again").await;
    assert!(reads_text(&server, &alice, &room_id, "heard again").await);
}

/// An administrator's own message rate for a user, and suspension in Synapse's shape.
#[tokio::test(flavor = "multi_thread")]
async fn message_rates_are_overridden_and_users_suspended() {
    let (server, admin) = server_with_admin().await;
    let token = Some(admin.access_token.as_str());
    let bob = server.register("bob").await;
    let room_id = server.create_room(&bob, json!({})).await;
    let path = "/_synapse/admin/v1/users/@bob:localhost/override_ratelimit";

    let (status, none) = server.get(path, token).await;
    assert_eq!((status, none), (StatusCode::OK, json!({})));
    let (status, set) = server.post(path, token, json!({ "burst_count": 2 })).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    let rate = json!({ "messages_per_second": 0, "burst_count": 2 });
    assert_eq!(set, rate);
    assert_eq!(server.get(path, token).await.1, rate);
    // Two messages, then Bob waits.
    server.send_text(&bob, &room_id, "one").await;
    server.send_text(&bob, &room_id, "two").await;
    let third = server.send_text_result(&bob, &room_id, "three").await;
    assert_error(&third, StatusCode::TOO_MANY_REQUESTS, "M_LIMIT_EXCEEDED");
    assert!(third.1["retry_after_ms"].as_u64().is_some(), "{}", third.1);
    let bad = server
        .post(path, token, json!({ "messages_per_second": -1 }))
        .await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
    // No limit at all with 0 and 0.
    server
        .post(
            path,
            token,
            json!({ "messages_per_second": 0, "burst_count": 0 }),
        )
        .await;
    server.send_text(&bob, &room_id, "unlimited").await;
    let (status, _) = server
        .request(reqwest::Method::DELETE, path, token, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(server.get(path, token).await.1, json!({}));

    // Suspension: Bob can read, not send, until it is lifted.
    let (status, answer) = server
        .put(
            "/_synapse/admin/v1/suspend/@bob:localhost",
            token,
            json!({ "suspend": true }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer, json!({ "user_@bob:localhost_suspended": true }));
    let refused = server.send_text_result(&bob, &room_id, "muted").await;
    assert_error(&refused, StatusCode::FORBIDDEN, "M_USER_SUSPENDED");
    let (_, details) = server
        .get("/_synapse/admin/v2/users/@bob:localhost", token)
        .await;
    assert_eq!(details["suspended"], true, "{details}");
    server
        .put(
            "/_synapse/admin/v1/suspend/@bob:localhost",
            token,
            json!({ "suspend": false }),
        )
        .await;
    server.send_text(&bob, &room_id, "free again").await;
}

/// The synchronous shutdown with `new_room_user_id`: the members find themselves in a new room
/// made by that user, with the old room's alias and the message, where they cannot speak.
#[tokio::test(flavor = "multi_thread")]
async fn shut_down_members_are_moved_to_a_new_room() {
    let (server, admin) = server_with_admin().await;
    let token = Some(admin.access_token.as_str());
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room_id = server
        .create_room(
            &alice,
            json!({ "preset": "public_chat", "room_alias_name": "old" }),
        )
        .await;
    assert_eq!(server.join(&bob, &room_id).await.0, StatusCode::OK);

    let (status, shutdown) = server
        .request(
            reqwest::Method::DELETE,
            &format!("/_synapse/admin/v1/rooms/{room_id}"),
            token,
            Some(json!({
                "new_room_user_id": admin.user_id,
                "room_name": "Closed",
                "message": "This room was closed by the moderators.",
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{shutdown}");
    let new_room = shutdown["new_room_id"]
        .as_str()
        .expect("a new room")
        .to_owned();
    let mut kicked: Vec<&str> = shutdown["kicked_users"]
        .as_array()
        .expect("kicked users")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    kicked.sort_unstable();
    assert_eq!(kicked, ["@alice:localhost", "@bob:localhost"], "{shutdown}");
    assert_eq!(shutdown["failed_to_kick_users"], json!([]));
    assert_eq!(shutdown["local_aliases"], json!(["#old:localhost"]));

    let (_, joined) = server
        .get("/_matrix/client/v3/joined_rooms", Some(&bob.access_token))
        .await;
    assert_eq!(joined["joined_rooms"], json!([new_room.clone()]));
    let (_, alias) = server
        .get(
            "/_matrix/client/v3/directory/room/%23old:localhost",
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(alias["room_id"], new_room.as_str(), "{alias}");
    assert!(
        reads_text(
            &server,
            &bob,
            &new_room,
            "This room was closed by the moderators."
        )
        .await
    );
    let (_, name) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{new_room}/state/m.room.name/"),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(name["name"], "Closed");
    let silenced = server.send_text_result(&bob, &new_room, "hello?").await;
    assert_error(&silenced, StatusCode::FORBIDDEN, "M_FORBIDDEN");
    // The old room is gone from this server.
    let (status, _) = server
        .get(&format!("/_synapse/admin/v1/rooms/{room_id}"), token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A room's old history is purged: messages before the point go (local ones only when asked),
/// state stays, the newest event always stays; the status is kept for the purge id.
#[tokio::test(flavor = "multi_thread")]
async fn room_history_is_purged_up_to_a_point() {
    let (server, admin) = server_with_admin().await;
    let token = Some(admin.access_token.as_str());
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    assert_eq!(server.join(&bob, &room_id).await.0, StatusCode::OK);
    let other_room = server.create_room(&alice, json!({})).await;
    let unread = |sync: &Value| {
        sync["rooms"]["join"][room_id.as_str()]["unread_notifications"]["notification_count"]
            .as_u64()
    };
    let mut sent = Vec::new();
    for text in ["m1", "m2", "m3"] {
        sent.push(server.send_text(&alice, &room_id, text).await);
    }
    let (status, _) = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.topic/"),
            Some(&alice.access_token),
            json!({ "topic": "kept" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let m4 = server.send_text(&alice, &room_id, "m4").await;
    server.send_text(&alice, &room_id, "m5").await;
    let path = format!("/_synapse/admin/v1/purge_history/{room_id}");

    // Local events stay unless asked for.
    let (status, kept) = server
        .post(&path, token, json!({ "purge_up_to_event_id": m4 }))
        .await;
    assert_eq!(status, StatusCode::OK, "{kept}");
    assert!(reads_text(&server, &alice, &room_id, "m1").await);
    let (status, purged) = server
        .post(
            &format!("{path}/{m4}"),
            token,
            json!({ "delete_local_events": true }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{purged}");
    let purge_id = purged["purge_id"].as_str().expect("a purge id");
    let (status, done) = server
        .get(
            &format!("/_synapse/admin/v1/purge_history_status/{purge_id}"),
            token,
        )
        .await;
    assert_eq!(
        (status, done),
        (StatusCode::OK, json!({ "status": "complete" }))
    );
    for gone in ["m1", "m2", "m3"] {
        assert!(!reads_text(&server, &alice, &room_id, gone).await, "{gone}");
    }
    for left in ["m4", "m5"] {
        assert!(reads_text(&server, &alice, &room_id, left).await, "{left}");
    }
    // Bob was told of five messages; three are gone, and so are their notifications.
    assert_eq!(unread(&server.sync(&bob, None, 0).await), Some(2));
    let lost = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/event/{}", sent[0]),
            Some(&alice.access_token),
        )
        .await;
    assert_error(&lost, StatusCode::NOT_FOUND, "M_NOT_FOUND");
    let (_, topic) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.topic/"),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(topic["topic"], "kept");

    // By time: everything older goes but the newest event; the room goes on.
    let (status, _) = server
        .post(
            &path,
            token,
            json!({ "purge_up_to_ts": 4_102_444_800_000u64, "delete_local_events": true }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!reads_text(&server, &alice, &room_id, "m4").await);
    assert!(reads_text(&server, &alice, &room_id, "m5").await);
    server.send_text(&alice, &room_id, "m6").await;
    assert!(reads_text(&server, &alice, &room_id, "m6").await);
    let sync = server.sync(&alice, None, 0).await;
    let bodies = crate::common::message_bodies(
        &sync["rooms"]["join"][room_id.as_str()]["timeline"]["events"],
    );
    assert_eq!(bodies, ["m5", "m6"], "{sync}");

    // Refused: no point, an event of another room, an unknown purge id.
    let none = server.post(&path, token, json!({})).await;
    assert_error(&none, StatusCode::BAD_REQUEST, "M_MISSING_PARAM");
    let elsewhere = server.send_text(&alice, &other_room, "elsewhere").await;
    let wrong = server
        .post(&path, token, json!({ "purge_up_to_event_id": elsewhere }))
        .await;
    assert_error(&wrong, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
    let unknown = server
        .get("/_synapse/admin/v1/purge_history_status/nope", token)
        .await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "M_NOT_FOUND");

    // The purges are the administrator's tasks, newest first.
    let (status, tasks) = server
        .get(
            &format!(
                "/_synapse/admin/v1/scheduled_tasks?action_name=purge_history&resource_id={room_id}"
            ),
            token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tasks}");
    let tasks = tasks["scheduled_tasks"].as_array().expect("tasks").clone();
    assert_eq!(tasks.len(), 3, "{tasks:?}");
    assert_eq!(tasks[1]["id"], purge_id);
    assert!(
        tasks
            .iter()
            .all(|task| task["status"] == "complete" && task["action"] == "purge_history")
    );
    assert_eq!(tasks[1]["result"]["purged_events"], 3, "{tasks:?}");
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

/// Everything a user sent is redacted: by the administrator once the user is gone, by the user
/// while they are there; what nobody present could redact is reported.
#[tokio::test(flavor = "multi_thread")]
async fn a_users_events_are_redacted() {
    let (server, admin) = server_with_admin().await;
    let token = Some(admin.access_token.as_str());
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let room_id = server
        .create_room(&admin, json!({ "preset": "public_chat" }))
        .await;
    for user in [&bob, &carol] {
        assert_eq!(server.join(user, &room_id).await.0, StatusCode::OK);
    }
    for text in ["spam 1", "spam 2", "spam 3"] {
        server.send_text(&bob, &room_id, text).await;
    }
    server.send_text(&carol, &room_id, "a real message").await;
    let (status, _) = server
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/ban"),
            Some(&admin.access_token),
            json!({ "user_id": bob.user_id, "reason": "spam" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, started) = server
        .post(
            "/_synapse/admin/v1/user/@bob:localhost/redact",
            token,
            json!({ "rooms": [], "reason": "spam" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let redact_id = started["redact_id"].as_str().expect("a redact id");
    let (_, progress) = server
        .get(
            &format!("/_synapse/admin/v1/user/redact_status/{redact_id}"),
            token,
        )
        .await;
    assert_eq!(
        progress,
        json!({ "status": "completed", "failed_redactions": {} })
    );
    let spam = events_of(
        &server,
        &carol,
        &room_id,
        "@bob:localhost",
        "m.room.message",
    )
    .await;
    assert_eq!(spam.len(), 3);
    for event in &spam {
        assert_eq!(event["content"], json!({}), "{event}");
    }
    let redactions = events_of(
        &server,
        &carol,
        &room_id,
        &admin.user_id,
        "m.room.redaction",
    )
    .await;
    assert!(redactions.len() >= 3, "{redactions:?}");
    assert_eq!(redactions[0]["content"]["reason"], "spam");
    assert!(reads_text(&server, &carol, &room_id, "a real message").await);

    // Carol, still in the room, redacts her own event.
    let (status, started) = server
        .post(
            "/_synapse/admin/v1/user/@carol:localhost/redact",
            token,
            json!({ "rooms": [room_id.clone()] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{started}");
    assert!(!reads_text(&server, &admin, &room_id, "a real message").await);
    let own = events_of(
        &server,
        &admin,
        &room_id,
        "@carol:localhost",
        "m.room.redaction",
    )
    .await;
    assert!(!own.is_empty());

    // A room neither Dave nor the administrator is in any more: reported, not redacted.
    let dave = server.register("dave").await;
    let private = server.create_room(&dave, json!({})).await;
    let said = server.send_text(&dave, &private, "private words").await;
    let (status, _) = server
        .post(
            &format!("/_matrix/client/v3/rooms/{private}/leave"),
            Some(&dave.access_token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, started) = server
        .post(
            "/_synapse/admin/v1/user/@dave:localhost/redact",
            token,
            json!({ "rooms": [private] }),
        )
        .await;
    let redact_id = started["redact_id"].as_str().expect("a redact id");
    let (_, progress) = server
        .get(
            &format!("/_synapse/admin/v1/user/redact_status/{redact_id}"),
            token,
        )
        .await;
    assert_eq!(progress["status"], "completed");
    assert!(
        progress["failed_redactions"].get(&said).is_some(),
        "{progress}"
    );
}

/// A room an administrator is not in: its history paged and read around an event, its media
/// listed and quarantined, and its size among the largest rooms.
#[tokio::test(flavor = "multi_thread")]
async fn room_history_media_and_sizes_for_administrators() {
    use crate::media::{download, upload};
    let (server, admin) = server_with_admin().await;
    let token = Some(admin.access_token.as_str());
    let alice = server.register("alice").await;
    let room_id = server.create_room(&alice, json!({})).await;
    let small_room = server.create_room(&alice, json!({})).await;
    let mut sent = Vec::new();
    for text in ["m1", "m2", "m3", "m4", "m5"] {
        sent.push(server.send_text(&alice, &room_id, text).await);
    }
    let mut uris = Vec::new();
    for bytes in [b"the image".to_vec(), b"its thumbnail".to_vec()] {
        let (status, uploaded) = upload(&server, &alice, bytes, "image/png", None).await;
        assert_eq!(status, StatusCode::OK, "{uploaded}");
        uris.push(uploaded["content_uri"].as_str().expect("uri").to_owned());
    }
    let (status, _) = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room_id}/send/m.room.message/img"),
            Some(&alice.access_token),
            json!({
                "msgtype": "m.image", "body": "picture", "url": uris[0],
                "info": { "thumbnail_url": uris[1] },
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room_id}/send/m.room.message/remote"),
            Some(&alice.access_token),
            json!({ "msgtype": "m.file", "body": "elsewhere", "url": "mxc://elsewhere.example/abc" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Paged back, three at a time, only messages.
    let filter = "%7B%22types%22%3A%5B%22m.room.message%22%5D%7D";
    let path = format!("/_synapse/admin/v1/rooms/{room_id}/messages?dir=b&limit=3&filter={filter}");
    let (status, page) = server.get(&path, token).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(
        crate::common::message_bodies(&page["chunk"]),
        ["elsewhere", "picture", "m5"]
    );
    let end = page["end"].as_str().expect("more to come");
    let (_, next) = server.get(&format!("{path}&from={end}"), token).await;
    assert_eq!(
        crate::common::message_bodies(&next["chunk"]),
        ["m4", "m3", "m2"]
    );
    let (_, forward) = server
        .get(
            &format!("/_synapse/admin/v1/rooms/{room_id}/messages?limit=2&filter={filter}"),
            token,
        )
        .await;
    assert_eq!(
        crate::common::message_bodies(&forward["chunk"]),
        ["m1", "m2"]
    );
    // Around m3.
    let (status, context) = server
        .get(
            &format!(
                "/_synapse/admin/v1/rooms/{room_id}/context/{}?limit=2",
                sent[2]
            ),
            token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{context}");
    assert_eq!(context["event"]["content"]["body"], "m3");
    assert_eq!(
        crate::common::message_bodies(&context["events_before"]),
        ["m2"]
    );
    assert_eq!(
        crate::common::message_bodies(&context["events_after"]),
        ["m4"]
    );
    assert!(
        context["state"]
            .as_array()
            .is_some_and(|state| state.iter().any(|event| event["type"] == "m.room.create")),
        "{context}"
    );
    let elsewhere = server
        .get(
            &format!("/_synapse/admin/v1/rooms/{small_room}/context/{}", sent[2]),
            token,
        )
        .await;
    assert_error(&elsewhere, StatusCode::NOT_FOUND, "M_NOT_FOUND");
    let refused = server
        .get(
            &format!("/_synapse/admin/v1/rooms/{room_id}/messages"),
            Some(&alice.access_token),
        )
        .await;
    assert_error(&refused, StatusCode::FORBIDDEN, "M_FORBIDDEN");

    // The room's media.
    let (status, media) = server
        .get(&format!("/_synapse/admin/v1/room/{room_id}/media"), token)
        .await;
    assert_eq!(status, StatusCode::OK, "{media}");
    assert_eq!(
        media,
        json!({ "local": uris.clone(), "remote": ["mxc://elsewhere.example/abc"] })
    );
    let (status, quarantined) = server
        .post(
            &format!("/_synapse/admin/v1/room/{room_id}/media/quarantine"),
            token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{quarantined}");
    assert_eq!(quarantined, json!({ "num_quarantined": 2 }));
    for uri in &uris {
        let id = uri.rsplit('/').next().expect("media id");
        let response = download(
            &server,
            Some(&alice.access_token),
            &format!("/_matrix/client/v1/media/download/localhost/{id}"),
            None,
        )
        .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{uri}");
    }
    let (_, again) = server
        .post(
            &format!("/_synapse/admin/v1/quarantine_media/{room_id}"),
            token,
            json!({}),
        )
        .await;
    assert_eq!(again, json!({ "num_quarantined": 0 }));

    // Sizes: the busy room before the quiet one, both with their bytes.
    let (status, sizes) = server
        .get("/_synapse/admin/v1/statistics/database/rooms", token)
        .await;
    assert_eq!(status, StatusCode::OK, "{sizes}");
    let listed: Vec<&str> = sizes["rooms"]
        .as_array()
        .expect("rooms")
        .iter()
        .filter_map(|room| room["room_id"].as_str())
        .collect();
    let busy = listed.iter().position(|id| *id == room_id).expect("listed");
    let quiet = listed
        .iter()
        .position(|id| *id == small_room)
        .expect("listed");
    assert!(busy < quiet, "{sizes}");
    assert!(
        sizes["rooms"][busy]["estimated_size"].as_u64().unwrap_or(0) > 2000,
        "{sizes}"
    );
}

/// What consoles ask about a user (memberships, invites sent, rooms ever joined, lookups by
/// external or third-party id), a device made for them, and events found by time or id.
#[tokio::test(flavor = "multi_thread")]
async fn user_queries_devices_and_events_for_consoles() {
    let (server, admin) = server_with_admin().await;
    let token = Some(admin.access_token.as_str());
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room_id = server.create_room(&alice, json!({})).await;
    let left = server.create_room(&alice, json!({})).await;
    let (status, _) = server
        .post(
            &format!("/_matrix/client/v3/rooms/{left}/leave"),
            Some(&alice.access_token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server.invite(&alice, &room_id, &bob).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(server.join(&bob, &room_id).await.0, StatusCode::OK);
    let said = server.send_text(&alice, &room_id, "found by id").await;

    let user = "/_synapse/admin/v1/users/@alice:localhost";
    let (status, memberships) = server.get(&format!("{user}/memberships"), token).await;
    assert_eq!(status, StatusCode::OK, "{memberships}");
    assert_eq!(
        memberships,
        json!({ "memberships": { room_id.clone(): "join", left.clone(): "leave" } })
    );
    let (_, count) = server
        .get(
            &format!("{user}/cumulative_joined_room_count?from_ts=0"),
            token,
        )
        .await;
    assert_eq!(count, json!({ "cumulative_joined_room_count": 2 }));
    let (_, none) = server
        .get(
            &format!("{user}/cumulative_joined_room_count?from_ts=4102444800000"),
            token,
        )
        .await;
    assert_eq!(none, json!({ "cumulative_joined_room_count": 0 }));
    let (_, invites) = server
        .get(&format!("{user}/sent_invite_count?from_ts=0"), token)
        .await;
    assert_eq!(invites, json!({ "invite_count": 1 }));
    let unbounded = server
        .get(&format!("{user}/sent_invite_count"), token)
        .await;
    assert_error(&unbounded, StatusCode::BAD_REQUEST, "M_MISSING_PARAM");
    let (_, later) = server
        .get(
            &format!("{user}/sent_invite_count?from_ts=4102444800000"),
            token,
        )
        .await;
    assert_eq!(later, json!({ "invite_count": 0 }));
    for lookup in [
        "/_synapse/admin/v1/auth_providers/oidc/users/alice",
        "/_synapse/admin/v1/threepid/email/users/alice%40example.org",
    ] {
        let missing = server.get(lookup, token).await;
        assert_error(&missing, StatusCode::NOT_FOUND, "M_NOT_FOUND");
    }

    // A device made for Bob.
    let devices = "/_synapse/admin/v2/users/@bob:localhost/devices";
    let (status, made) = server
        .post(devices, token, json!({ "device_id": "BRIDGEDEVICE" }))
        .await;
    assert_eq!((status, made), (StatusCode::OK, json!({})));
    let (_, listing) = server.get(devices, token).await;
    assert!(
        listing["devices"].as_array().is_some_and(|all| all
            .iter()
            .any(|device| device["device_id"] == "BRIDGEDEVICE")),
        "{listing}"
    );
    let nameless = server.post(devices, token, json!({})).await;
    assert_error(&nameless, StatusCode::BAD_REQUEST, "M_MISSING_PARAM");

    // Events by time and by id.
    let room = format!("/_synapse/admin/v1/rooms/{room_id}");
    let (status, first) = server
        .get(&format!("{room}/timestamp_to_event?ts=0&dir=f"), token)
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (_, create) = server
        .get(
            &format!(
                "/_synapse/admin/v1/fetch_event/{}",
                first["event_id"].as_str().unwrap_or("")
            ),
            token,
        )
        .await;
    assert_eq!(create["event"]["type"], "m.room.create", "{create}");
    let (_, newest) = server
        .get(
            &format!("{room}/timestamp_to_event?ts=4102444800000&dir=b"),
            token,
        )
        .await;
    assert_eq!(newest["event_id"], said.as_str(), "{newest}");
    let (_, fetched) = server
        .get(&format!("/_synapse/admin/v1/fetch_event/{said}"), token)
        .await;
    assert_eq!(fetched["event"]["content"]["body"], "found by id");
    assert_eq!(fetched["event"]["room_id"], room_id.as_str());

    // One forward extremity: nothing to drop, and the room goes on.
    let (status, dropped) = server
        .request(
            reqwest::Method::DELETE,
            &format!("{room}/forward_extremities"),
            token,
            None,
        )
        .await;
    assert_eq!((status, dropped), (StatusCode::OK, json!({ "deleted": 0 })));
    let (_, extremities) = server
        .get(&format!("{room}/forward_extremities"), token)
        .await;
    assert_eq!(extremities["count"], 1);
}

/// An administrator lets a user who lost their password replace their cross-signing keys
/// without authenticating; only for users who have keys.
#[tokio::test(flavor = "multi_thread")]
async fn cross_signing_replacement_is_allowed_without_authentication() {
    use crate::cross_signing::{Keys, set_up_cross_signing};
    let (server, admin) = server_with_admin().await;
    let token = Some(admin.access_token.as_str());
    let alice = server.register("alice").await;
    let path =
        "/_synapse/admin/v1/users/@alice:localhost/_allow_cross_signing_replacement_without_uia";
    let keyless = server.post(path, token, json!({})).await;
    assert_error(&keyless, StatusCode::NOT_FOUND, "M_NOT_FOUND");
    set_up_cross_signing(&server, &alice).await;
    let upload = "/_matrix/client/v3/keys/device_signing/upload";
    let (status, _) = server
        .post(
            upload,
            Some(&alice.access_token),
            Keys::generate(&alice).upload_body(&alice),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, granted) = server.post(path, token, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{granted}");
    let until = granted["updatable_without_uia_before_ms"]
        .as_u64()
        .expect("a time");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_millis() as u64;
    assert!(
        until > now + 9 * 60 * 1000 && until <= now + 10 * 60 * 1000 + 5000,
        "{granted}"
    );
    let (status, body) = server
        .post(
            upload,
            Some(&alice.access_token),
            Keys::generate(&alice).upload_body(&alice),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// A private space and its private child, seen whole by an administrator who is in neither.
#[tokio::test(flavor = "multi_thread")]
async fn an_administrator_sees_a_private_space_hierarchy() {
    let (server, admin) = server_with_admin().await;
    let token = Some(admin.access_token.as_str());
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let space = server
        .create_room(
            &alice,
            json!({ "creation_content": { "type": "m.space" }, "name": "Hidden space" }),
        )
        .await;
    let child = server
        .create_room(&alice, json!({ "name": "Hidden room" }))
        .await;
    let (status, _) = server
        .put(
            &format!("/_matrix/client/v3/rooms/{space}/state/m.space.child/{child}"),
            Some(&alice.access_token),
            json!({ "via": ["localhost"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, tree) = server
        .get(
            &format!("/_synapse/admin/v1/rooms/{space}/hierarchy"),
            token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tree}");
    let names: Vec<&str> = tree["rooms"]
        .as_array()
        .expect("rooms")
        .iter()
        .filter_map(|room| room["name"].as_str())
        .collect();
    assert_eq!(names, ["Hidden space", "Hidden room"], "{tree}");
    assert_eq!(
        tree["rooms"][0]["children_state"][0]["state_key"],
        child.as_str()
    );
    let hidden = server
        .get(
            &format!("/_matrix/client/v1/rooms/{space}/hierarchy"),
            Some(&bob.access_token),
        )
        .await;
    assert_error(&hidden, StatusCode::FORBIDDEN, "M_FORBIDDEN");
    let refused = server
        .get(
            &format!("/_synapse/admin/v1/rooms/{space}/hierarchy"),
            Some(&bob.access_token),
        )
        .await;
    assert_error(&refused, StatusCode::FORBIDDEN, "M_FORBIDDEN");
}

/// Other servers get an erased user's events redacted too (Synapse prunes them in
/// `filter_events_for_server`): a server joining later pages back through the history and
/// finds the words gone, while others' stay.
#[tokio::test(flavor = "multi_thread")]
async fn erased_users_events_reach_other_servers_redacted() {
    use crate::federation_helpers::join_via;
    let (a, _) = TestServer::start_federated().await;
    let (b, _) = TestServer::start_federated().await;
    let admin = a.register("root").await;
    let root = ruma::UserId::parse(admin.user_id.as_str()).expect("user id");
    a.server()
        .services()
        .users
        .set_admin(&root, true)
        .await
        .expect("admin");
    let alice = a.register("alice").await;
    let carol = a.register("carol").await;
    let room_id = a
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    assert_eq!(a.join(&carol, &room_id).await.0, StatusCode::OK);
    let secret = a.send_text(&carol, &room_id, "carol's secret").await;
    a.send_text(&alice, &room_id, "alice's words").await;
    let (status, answer) = a
        .post(
            &format!("/_synapse/admin/v1/deactivate/{}", carol.user_id),
            Some(&admin.access_token),
            json!({ "erase": true }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    let bob = b.register("bob").await;
    let joined = join_via(&b, &bob, &room_id, &a.server_name()).await;
    assert_eq!(joined.0, StatusCode::OK, "{}", joined.1);
    let (status, history) = b
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=50"),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{history}");
    assert_eq!(
        crate::common::message_bodies(&history["chunk"]),
        ["alice's words"],
        "{history}"
    );
    let redacted = history["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .find(|event| event["event_id"] == secret.as_str())
        .unwrap_or_else(|| panic!("Carol's event is in the graph: {history}"));
    assert_eq!(redacted["content"], json!({}), "{redacted}");
}

/// User types (Synapse's `bot` and `support`): set, shown, filtered out of listings, cleared;
/// an unknown type changes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn user_types_are_set_listed_and_cleared() {
    let (server, admin) = server_with_admin().await;
    let token = Some(admin.access_token.as_str());
    let path = "/_synapse/admin/v2/users/@helper:localhost";
    let (status, created) = server
        .put(
            path,
            token,
            json!({ "password": "a helper's password", "user_type": "bot" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["user_type"], "bot");
    server.register("person").await;

    let (_, no_bots) = server
        .get("/_synapse/admin/v3/users?not_user_type=bot", token)
        .await;
    assert!(
        !names(&no_bots).contains(&"@helper:localhost".to_owned()),
        "{no_bots}"
    );
    assert!(
        names(&no_bots).contains(&"@person:localhost".to_owned()),
        "{no_bots}"
    );
    let (_, typed_only) = server
        .get("/_synapse/admin/v3/users?not_user_type=", token)
        .await;
    assert_eq!(names(&typed_only), ["@helper:localhost"], "{typed_only}");

    let refused = server
        .put(path, token, json!({ "user_type": "robot" }))
        .await;
    assert_error(&refused, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
    let refused_new = server
        .put(
            "/_synapse/admin/v2/users/@ghost:localhost",
            token,
            json!({ "password": "a ghost's password", "user_type": "robot" }),
        )
        .await;
    assert_error(&refused_new, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
    let (status, _) = server
        .get("/_synapse/admin/v2/users/@ghost:localhost", token)
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "no account made for a refused request"
    );
    assert_eq!(server.get(path, token).await.1["user_type"], "bot");
    let (status, cleared) = server.put(path, token, json!({ "user_type": null })).await;
    assert_eq!(status, StatusCode::OK, "{cleared}");
    assert_eq!(cleared["user_type"], JsonNull);
    // Support accounts are kept out of the user directory, as in Synapse; bots are not.
    let person = server.register("someone").await;
    let room = server
        .create_room(&person, json!({ "preset": "public_chat" }))
        .await;
    for (name, kind) in [("helpdesk", "support"), ("robot", "bot")] {
        let (status, _) = server
            .put(
                &format!("/_synapse/admin/v2/users/@{name}:localhost"),
                token,
                json!({ "password": "a typed password", "user_type": kind }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, login) = server.login(name, "a typed password").await;
        assert_eq!(status, StatusCode::OK, "{login}");
        let typed = crate::common::user_from(&login);
        assert_eq!(server.join(&typed, &room).await.0, StatusCode::OK);
    }
    for (term, found) in [("helpdesk", false), ("robot", true)] {
        let (status, results) = server
            .post(
                "/_matrix/client/v3/user_directory/search",
                Some(&person.access_token),
                json!({ "search_term": term }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{results}");
        assert_eq!(
            results["results"].as_array().map(Vec::len),
            Some(usize::from(found)),
            "{term}: {results}"
        );
    }
}
