//! Membership, aliases, room version 12 and upgrades as the spec and Synapse have them
//! (Complement's `tests/csapi`).

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{TestServer, assert_error};

/// Membership sent as room state is judged by the room's rules like any event: a banned user
/// cannot join that way [Complement TestBannedUserCannotSendJoin], while allowed changes go
/// through with their own content kept.
#[tokio::test]
async fn membership_sent_as_state_follows_the_rooms_rules() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    let member_path =
        |user: &str| format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.member/{user}");

    // Carol joins through the state endpoint, with a custom key kept in her member event.
    let (status, answer) = server
        .put(
            &member_path(&carol.user_id),
            Some(&carol.access_token),
            json!({ "membership": "join", "org.example.flair": "hello" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (_, member) = server
        .get(&member_path(&carol.user_id), Some(&alice.access_token))
        .await;
    assert_eq!(member["membership"], "join");
    assert_eq!(member["org.example.flair"], "hello");

    // Alice bans Bob through the state endpoint; Bob's join that way is refused.
    let (status, answer) = server
        .put(
            &member_path(&bob.user_id),
            Some(&alice.access_token),
            json!({ "membership": "ban", "reason": "spam" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_error(
        &server
            .put(
                &member_path(&bob.user_id),
                Some(&bob.access_token),
                json!({ "membership": "join" }),
            )
            .await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    let (_, member) = server
        .get(&member_path(&bob.user_id), Some(&alice.access_token))
        .await;
    assert_eq!(member["membership"], "ban");

    // Carol (power 0) cannot ban Alice; she can leave.
    assert_error(
        &server
            .put(
                &member_path(&alice.user_id),
                Some(&carol.access_token),
                json!({ "membership": "ban" }),
            )
            .await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    // Nobody joins on someone else's behalf.
    let dave = server.register("dave").await;
    assert_error(
        &server
            .put(
                &member_path(&dave.user_id),
                Some(&alice.access_token),
                json!({ "membership": "join" }),
            )
            .await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    let (status, _) = server
        .put(
            &member_path(&carol.user_id),
            Some(&carol.access_token),
            json!({ "membership": "leave" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, member) = server
        .get(&member_path(&carol.user_id), Some(&alice.access_token))
        .await;
    assert_eq!(member["membership"], "leave");
}

/// A taken alias is 409; deleting the canonical alias takes it out of
/// `m.room.canonical_alias` [Complement TestRoomDeleteAlias].
#[tokio::test]
async fn aliases_conflict_with_409_and_deletion_updates_the_canonical_alias() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let room_id = server.create_room(&alice, json!({})).await;
    let other = server.create_room(&alice, json!({})).await;
    let own = server.server_name();
    let alias = format!("#main:{own}");
    let alternative = format!("#alt:{own}");
    let token = Some(alice.access_token.as_str());
    for name in [&alias, &alternative] {
        let (status, _) = server
            .put(
                &format!(
                    "/_matrix/client/v3/directory/room/{}",
                    name.replace('#', "%23")
                ),
                token,
                json!({ "room_id": room_id }),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, answer) = server
        .put(
            &format!(
                "/_matrix/client/v3/directory/room/{}",
                alias.replace('#', "%23")
            ),
            token,
            json!({ "room_id": other }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(answer["errcode"].is_string());
    let canonical = format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.canonical_alias/");
    let (status, _) = server
        .put(
            &canonical,
            token,
            json!({ "alias": alias, "alt_aliases": [alternative] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for name in [&alias, &alternative] {
        let (status, _) = server
            .request(
                reqwest::Method::DELETE,
                &format!(
                    "/_matrix/client/v3/directory/room/{}",
                    name.replace('#', "%23")
                ),
                token,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (_, content) = server.get(&canonical, token).await;
    assert!(content.get("alias").is_none(), "{content}");
    assert_eq!(content["alt_aliases"], json!([]), "{content}");
}

/// An invite to a room everyone else has left can still be rejected [Complement TestRoomsInvite].
#[tokio::test]
async fn an_invite_to_an_emptied_room_can_be_rejected() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room_id = server.create_room(&alice, json!({})).await;
    let (status, _) = server.invite(&alice, &room_id, &bob).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/leave"),
            Some(&alice.access_token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, answer) = server
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/leave"),
            Some(&bob.access_token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let sync = server.sync(&bob, None, 0).await;
    assert!(sync["rooms"]["invite"].get(&room_id).is_none(), "{sync}");
}

/// Room version 12 (MSC4289/4291): upgrading needs power 150 by default (creators only),
/// additional creators must be user ids, are invited, and stay creators after an upgrade.
#[tokio::test]
async fn room_version_12_creators_and_upgrades() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let token = Some(alice.access_token.as_str());
    assert_error(
        &server
            .post(
                "/_matrix/client/v3/createRoom",
                token,
                json!({ "room_version": "12", "creation_content": { "additional_creators": ["not a user"] } }),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "M_INVALID_PARAM",
    );
    let room_id = server
        .create_room(
            &alice,
            json!({ "room_version": "12", "creation_content": { "additional_creators": [bob.user_id] } }),
        )
        .await;
    let (_, levels) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.power_levels/"),
            token,
        )
        .await;
    assert_eq!(levels["events"]["m.room.tombstone"], 150, "{levels}");
    // Bob was invited, and joins as a creator.
    let sync = server.sync(&bob, None, 0).await;
    assert!(sync["rooms"]["invite"].get(&room_id).is_some(), "{sync}");
    assert_eq!(server.join(&bob, &room_id).await.0, StatusCode::OK);
    let (status, upgraded) = server
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/upgrade"),
            token,
            json!({ "new_version": "12" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{upgraded}");
    let new_room = upgraded["replacement_room"].as_str().expect("replacement");
    let (_, create) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{new_room}/state/m.room.create/"),
            token,
        )
        .await;
    assert_eq!(
        create["additional_creators"],
        json!([bob.user_id]),
        "{create}"
    );
    let (_, new_levels) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{new_room}/state/m.room.power_levels/"),
            token,
        )
        .await;
    assert!(
        new_levels["users"].get(&bob.user_id).is_none(),
        "creators are never listed in v12 power levels: {new_levels}"
    );
    // Bob is invited to the successor and joins it as a creator.
    let sync = server.sync(&bob, None, 0).await;
    assert!(sync["rooms"]["invite"].get(new_room).is_some(), "{sync}");
}

/// Extra keys of a join body are kept in the member event [Complement TestRoomMembers].
#[tokio::test]
async fn join_bodies_keep_custom_keys_in_the_member_event() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    let (status, _) = server
        .post(
            &format!("/_matrix/client/v3/join/{room_id}"),
            Some(&bob.access_token),
            json!({ "foo": "bar", "membership": "leave", "reason": "hello" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, member) = server
        .get(
            &format!(
                "/_matrix/client/v3/rooms/{room_id}/state/m.room.member/{}",
                bob.user_id
            ),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(member["foo"], "bar", "{member}");
    assert_eq!(member["membership"], "join", "the server's keys win");
    assert_eq!(member["reason"], "hello");
}

/// Invite events carry the invitee's profile, also those made by createRoom.
#[tokio::test]
async fn invites_carry_the_invitees_profile() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let (status, _) = server
        .put(
            &format!("/_matrix/client/v3/profile/{}/displayname", bob.user_id),
            Some(&bob.access_token),
            json!({ "displayname": "Bobby" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let room_id = server
        .create_room(&alice, json!({ "invite": [bob.user_id] }))
        .await;
    let (_, member) = server
        .get(
            &format!(
                "/_matrix/client/v3/rooms/{room_id}/state/m.room.member/{}",
                bob.user_id
            ),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(member["membership"], "invite");
    assert_eq!(member["displayname"], "Bobby", "{member}");
}

/// Room push rules follow a room to its upgrade, for the upgrader and for members who join the
/// successor [Complement TestPushRuleRoomUpgrade].
#[tokio::test]
async fn room_push_rules_follow_an_upgrade() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    assert_eq!(server.join(&bob, &room_id).await.0, StatusCode::OK);
    for user in [&alice, &bob] {
        let (status, answer) = server
            .put(
                &format!("/_matrix/client/v3/pushrules/global/room/{room_id}"),
                Some(&user.access_token),
                json!({ "actions": [] }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let (status, upgraded) = server
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/upgrade"),
            Some(&alice.access_token),
            json!({ "new_version": "11" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{upgraded}");
    let new_room = upgraded["replacement_room"]
        .as_str()
        .expect("replacement")
        .to_owned();
    assert_eq!(server.join(&bob, &new_room).await.0, StatusCode::OK);
    for user in [&alice, &bob] {
        let (status, rule) = server
            .get(
                &format!("/_matrix/client/v3/pushrules/global/room/{new_room}"),
                Some(&user.access_token),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{} has no rule for the new room: {rule}",
            user.user_id
        );
        assert_eq!(rule["actions"], json!([]));
    }
}

/// A restricted room shows in a space's hierarchy to those who could join it (members of a room
/// its rule allows) and to nobody else [Complement TestClientSpacesSummary].
#[tokio::test]
async fn restricted_rooms_show_in_hierarchies_only_to_those_allowed() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let own = server.server_name();
    let space = server
        .create_room(
            &alice,
            json!({ "preset": "public_chat", "creation_content": { "type": "m.space" } }),
        )
        .await;
    let club = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    let restricted = server
        .create_room(
            &alice,
            json!({ "room_version": "10", "initial_state": [{
                "type": "m.room.join_rules", "state_key": "",
                "content": { "join_rule": "restricted", "allow": [{ "type": "m.room_membership", "room_id": club }] }
            }] }),
        )
        .await;
    let (status, _) = server
        .put(
            &format!("/_matrix/client/v3/rooms/{space}/state/m.space.child/{restricted}"),
            Some(&alice.access_token),
            json!({ "via": [own] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(server.join(&bob, &space).await.0, StatusCode::OK);
    assert_eq!(server.join(&bob, &club).await.0, StatusCode::OK);
    assert_eq!(server.join(&carol, &space).await.0, StatusCode::OK);
    let shown = |answer: &serde_json::Value| -> bool {
        answer["rooms"].as_array().is_some_and(|rooms| {
            rooms
                .iter()
                .any(|room| room["room_id"] == restricted.as_str())
        })
    };
    let path = format!("/_matrix/client/v1/rooms/{space}/hierarchy");
    let (_, for_bob) = server.get(&path, Some(&bob.access_token)).await;
    assert!(shown(&for_bob), "bob is in the allowed room: {for_bob}");
    let (_, for_carol) = server.get(&path, Some(&carol.access_token)).await;
    assert!(!shown(&for_carol), "carol could not join: {for_carol}");
}

/// `/hierarchy` walks a space depth first, children in `order`/timestamp order, honouring
/// `max_depth`, `suggested_only` and `from`/`limit`, and leaves out links that were emptied or
/// redacted, and children of rooms that are not spaces [Complement TestClientSpacesSummary].
#[tokio::test]
async fn space_hierarchies_page_depth_first_and_honour_their_parameters() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let own = server.server_name();
    let space = json!({ "preset": "public_chat", "creation_content": { "type": "m.space" } });
    let room = json!({ "preset": "public_chat" });
    let root = server.create_room(&alice, space.clone()).await;
    let r1 = server.create_room(&alice, room.clone()).await;
    let ss1 = server.create_room(&alice, space.clone()).await;
    let r2 = server.create_room(&alice, room.clone()).await;
    let ss2 = server.create_room(&alice, space.clone()).await;
    let r3 = server.create_room(&alice, room.clone()).await;
    let r4 = server.create_room(&alice, room.clone()).await;
    let r5 = server.create_room(&alice, room.clone()).await;
    let link = async |parent: &str, child: &str, content: serde_json::Value| {
        let (status, body) = server
            .put(
                &format!("/_matrix/client/v3/rooms/{parent}/state/m.space.child/{child}"),
                Some(&alice.access_token),
                content,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["event_id"].as_str().expect("event_id").to_owned()
    };
    let via = json!({ "via": [own] });
    let suggested = json!({ "via": [own], "suggested": true });
    link(&root, &r1, suggested.clone()).await;
    link(&root, &ss1, via.clone()).await;
    link(&root, &r2, suggested.clone()).await;
    link(&ss1, &ss2, via.clone()).await;
    link(&ss2, &r3, via.clone()).await;
    let r4_link = link(&ss2, &r4, via.clone()).await;
    // R2 is not a space: its link to R5 is not followed.
    link(&r2, &r5, via.clone()).await;

    let hierarchy = async |query: &str| -> serde_json::Value {
        let (status, body) = server
            .get(
                &format!("/_matrix/client/v1/rooms/{root}/hierarchy{query}"),
                Some(&alice.access_token),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    };
    let ids = |body: &serde_json::Value| -> Vec<String> {
        body["rooms"]
            .as_array()
            .expect("rooms")
            .iter()
            .map(|room| room["room_id"].as_str().expect("room_id").to_owned())
            .collect()
    };
    let whole = hierarchy("").await;
    assert_eq!(
        ids(&whole),
        [
            root.as_str(),
            r1.as_str(),
            ss1.as_str(),
            ss2.as_str(),
            r3.as_str(),
            r4.as_str(),
            r2.as_str()
        ],
        "depth first: {whole}"
    );
    assert_eq!(whole["rooms"][0]["room_type"], "m.space");
    // Spec v1.15 (MSC3266): each room's version.
    assert_eq!(whole["rooms"][0]["room_version"], "12", "{whole}");
    let root_links: Vec<&str> = whole["rooms"][0]["children_state"]
        .as_array()
        .expect("children_state")
        .iter()
        .map(|event| event["state_key"].as_str().expect("state_key"))
        .collect();
    assert_eq!(root_links.len(), 3, "{whole}");
    assert!(whole.get("next_batch").is_none(), "{whole}");

    let first = hierarchy("?limit=4").await;
    assert_eq!(
        ids(&first),
        [root.as_str(), r1.as_str(), ss1.as_str(), ss2.as_str()],
        "{first}"
    );
    let next = first["next_batch"].as_str().expect("next_batch");
    let second = hierarchy(&format!("?limit=4&from={next}")).await;
    assert_eq!(
        ids(&second),
        [r3.as_str(), r4.as_str(), r2.as_str()],
        "{second}"
    );
    assert!(second.get("next_batch").is_none(), "{second}");

    let shallow = hierarchy("?max_depth=1").await;
    assert_eq!(
        ids(&shallow),
        [root.as_str(), r1.as_str(), ss1.as_str(), r2.as_str()],
        "{shallow}"
    );
    let suggested_only = hierarchy("?suggested_only=true").await;
    assert_eq!(
        ids(&suggested_only),
        [root.as_str(), r1.as_str(), r2.as_str()],
        "{suggested_only}"
    );

    // An emptied link and a redacted one both end the child's place in the space.
    link(&root, &ss1, json!({})).await;
    let (status, body) = server
        .put(
            &format!("/_matrix/client/v3/rooms/{ss2}/redact/{r4_link}/unlink"),
            Some(&alice.access_token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let pruned = hierarchy("").await;
    assert_eq!(
        ids(&pruned),
        [root.as_str(), r1.as_str(), r2.as_str()],
        "{pruned}"
    );
    let ss2_rooms = {
        let (_, body) = server
            .get(
                &format!("/_matrix/client/v1/rooms/{ss2}/hierarchy"),
                Some(&alice.access_token),
            )
            .await;
        ids(&body)
    };
    assert_eq!(ss2_rooms, [ss2.as_str(), r3.as_str()]);
}
