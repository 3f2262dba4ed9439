//! A user's devices, pushers, account data, memberships and counts, and events found by time or id.

use super::*;

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
