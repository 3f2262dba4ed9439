//! Rooms: listing and details, joining users, blocks, shutdowns, room admins, hierarchies.

use super::*;

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
