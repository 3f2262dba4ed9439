//! Accounts: listing, creating and changing, deactivation, user types, cross-signing replacement.

use super::*;

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
