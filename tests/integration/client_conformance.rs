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

/// A new display name or avatar reaches every room the user is in (as a new member event that
/// others sync), the user directory follows, and any avatar string is accepted
/// [Complement TestAvatarUrlUpdate].
#[tokio::test]
async fn profile_changes_reach_every_joined_room_and_the_directory() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let first = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    let second = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    for room_id in [&first, &second] {
        assert_eq!(server.join(&bob, room_id).await.0, StatusCode::OK);
    }
    let base = format!("/_matrix/client/v3/profile/{}", alice.user_id);
    let token = Some(alice.access_token.as_str());
    assert_eq!(
        server
            .put(
                &format!("{base}/displayname"),
                token,
                json!({ "displayname": "Alice Renamed" })
            )
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        server
            .put(
                &format!("{base}/avatar_url"),
                token,
                json!({ "avatar_url": "https://example.org/not-mxc.png" })
            )
            .await
            .0,
        StatusCode::OK
    );
    for room_id in [&first, &second] {
        let (status, member) = server
            .get(
                &format!(
                    "/_matrix/client/v3/rooms/{room_id}/state/m.room.member/{}",
                    alice.user_id
                ),
                Some(&bob.access_token),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(member["membership"], "join");
        assert_eq!(member["displayname"], "Alice Renamed", "{member}");
        assert_eq!(member["avatar_url"], "https://example.org/not-mxc.png");
        let (_, joined) = server
            .get(
                &format!("/_matrix/client/v3/rooms/{room_id}/joined_members"),
                Some(&bob.access_token),
            )
            .await;
        assert_eq!(
            joined["joined"][&alice.user_id]["display_name"],
            "Alice Renamed"
        );
        // Bob set neither: both keys are there, null.
        let bob_entry = joined["joined"][&bob.user_id]
            .as_object()
            .expect("bob is joined");
        assert!(
            bob_entry
                .get("avatar_url")
                .is_some_and(|value| value.is_null())
        );
        assert!(bob_entry.contains_key("display_name"), "{joined}");
    }
    // Bob's sync shows the change as a member event in the timeline of both rooms.
    let sync = server.sync(&bob, None, 0).await;
    for room_id in [&first, &second] {
        let timeline = sync["rooms"]["join"][room_id.as_str()]["timeline"]["events"]
            .as_array()
            .expect("timeline")
            .clone();
        assert!(
            timeline.iter().any(|event| event["type"] == "m.room.member"
                && event["state_key"] == alice.user_id.as_str()
                && event["content"]["displayname"] == "Alice Renamed"),
            "{timeline:?}"
        );
    }
    let (_, found) = server
        .post(
            "/_matrix/client/v3/user_directory/search",
            Some(&bob.access_token),
            json!({ "search_term": "Renamed" }),
        )
        .await;
    assert!(
        found["results"].as_array().is_some_and(|results| results
            .iter()
            .any(|user| user["user_id"] == alice.user_id.as_str())),
        "{found}"
    );
}

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

/// What a user may not see stays unrevealed: history of a room that does not exist is 403, like
/// a room one is not in [Complement TestFetchMessagesFromNonExistentRoom]; an event one may not
/// see is 404 [TestFetchEventNonWorldReadable].
#[tokio::test]
async fn unseen_rooms_are_403_and_unseen_events_404() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let own = server.server_name();
    assert_error(
        &server
            .get(
                &format!("/_matrix/client/v3/rooms/!nonexistent:{own}/messages?dir=b"),
                Some(&alice.access_token),
            )
            .await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    let room_id = server
        .create_room(
            &alice,
            json!({ "preset": "private_chat", "initial_state": [{
                "type": "m.room.history_visibility", "state_key": "",
                "content": { "history_visibility": "shared" }
            }] }),
        )
        .await;
    let event_id = server.send_text(&alice, &room_id, "private").await;
    assert_error(
        &server
            .get(
                &format!("/_matrix/client/v3/rooms/{room_id}/event/{event_id}"),
                Some(&bob.access_token),
            )
            .await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
    let (status, event) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/event/{event_id}"),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(event["content"]["body"], "private");
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

/// One-time keys are claimed oldest upload first (spec 1.13) [Complement TestKeyClaimOrdering].
#[tokio::test]
async fn one_time_keys_are_claimed_in_upload_order() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    // Key ids chosen so that id order is the reverse of upload order.
    for batch in [
        ["signed_curve25519:zz", "signed_curve25519:zy"],
        ["signed_curve25519:aa", "signed_curve25519:ab"],
    ] {
        let keys: serde_json::Map<String, serde_json::Value> = batch
            .iter()
            .map(|id| ((*id).to_owned(), crate::e2ee::one_time_key(1)))
            .collect();
        let (status, _) = server
            .post(
                "/_matrix/client/v3/keys/upload",
                Some(&alice.access_token),
                json!({ "one_time_keys": keys }),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let mut claimed = Vec::new();
    for _ in 0..4 {
        let (status, answer) = server
            .post(
                "/_matrix/client/v3/keys/claim",
                Some(&bob.access_token),
                json!({ "one_time_keys": { alice.user_id.clone(): { alice.device_id.clone(): "signed_curve25519" } } }),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let keys = answer["one_time_keys"][&alice.user_id][&alice.device_id]
            .as_object()
            .expect("a key")
            .clone();
        claimed.extend(keys.keys().cloned());
    }
    let first_upload: Vec<&str> = claimed[..2].iter().map(String::as_str).collect();
    assert!(
        first_upload.contains(&"signed_curve25519:zz")
            && first_upload.contains(&"signed_curve25519:zy"),
        "the first upload's keys come first: {claimed:?}"
    );
}

/// The initial sync carries `m.push_rules` even before the user changed any rule
/// [Complement TestPushSync], with the default `content` rules present.
#[tokio::test]
async fn initial_sync_carries_the_push_rules() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let sync = server.sync(&alice, None, 0).await;
    let events = sync["account_data"]["events"].as_array().expect("events");
    let rules = events
        .iter()
        .find(|event| event["type"] == "m.push_rules")
        .unwrap_or_else(|| panic!("no m.push_rules in {events:?}"));
    let global = &rules["content"]["global"];
    assert!(
        global["override"]
            .as_array()
            .is_some_and(|rules| rules.iter().any(|rule| rule["rule_id"] == ".m.rule.master"))
    );
    assert!(
        global["underride"]
            .as_array()
            .is_some_and(|rules| !rules.is_empty())
    );
    assert!(global["content"].is_array(), "{global}");
}

#[tokio::test]
async fn push_rule_sets_have_every_kind_and_the_global_scope_is_unwrapped() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let (_, all) = server
        .get("/_matrix/client/v3/pushrules/", Some(&alice.access_token))
        .await;
    let (_, global) = server
        .get(
            "/_matrix/client/v3/pushrules/global/",
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(all["global"], global);
    for kind in ["override", "content", "room", "sender", "underride"] {
        assert!(global[kind].is_array(), "{kind} missing from {global}");
    }
}

/// A timeline with a gap says so: `limited` and a `prev_batch` to page back from, for a room
/// joined with history in an incremental sync and for `full_state` [Complement TestSync,
/// TestSyncTimelineGap].
#[tokio::test]
async fn timelines_with_gaps_are_limited_with_a_prev_batch() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    for index in 0..15 {
        server
            .send_text(&alice, &room_id, &format!("before {index}"))
            .await;
    }
    let first = server.sync(&bob, None, 0).await;
    let since = first["next_batch"].as_str().expect("next_batch").to_owned();
    assert_eq!(server.join(&bob, &room_id).await.0, StatusCode::OK);
    let filter = crate::filters::encode(&json!({ "room": { "timeline": { "limit": 5 } } }));
    let (_, joined) = server
        .get(
            &format!("/_matrix/client/v3/sync?since={since}&timeout=0&filter={filter}"),
            Some(&bob.access_token),
        )
        .await;
    let room = &joined["rooms"]["join"][&room_id];
    assert_eq!(room["timeline"]["limited"], true, "{room}");
    assert!(room["timeline"]["prev_batch"].is_string(), "{room}");
    assert_eq!(
        room["timeline"]["events"].as_array().map(Vec::len),
        Some(5),
        "{room}"
    );
    // The gap can be paged back from prev_batch.
    let prev_batch = room["timeline"]["prev_batch"].as_str().expect("prev_batch");
    let (_, page) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&from={prev_batch}&limit=5"),
            Some(&bob.access_token),
        )
        .await;
    assert!(
        crate::common::message_bodies(&page["chunk"])
            .iter()
            .any(|body| body.starts_with("before ")),
        "{page}"
    );

    // full_state with a short timeline is limited too.
    let since = joined["next_batch"].as_str().expect("next_batch");
    for index in 0..8 {
        server
            .send_text(&alice, &room_id, &format!("after {index}"))
            .await;
    }
    let (_, full) = server
        .get(
            &format!(
                "/_matrix/client/v3/sync?since={since}&timeout=0&full_state=true&filter={filter}"
            ),
            Some(&bob.access_token),
        )
        .await;
    let room = &full["rooms"]["join"][&room_id];
    assert_eq!(room["timeline"]["limited"], true, "{room}");
    assert!(room["timeline"]["prev_batch"].is_string());
}

/// Presence of someone sharing a room arrives in the other's incremental sync
/// [Complement TestSync presence].
#[tokio::test]
async fn presence_of_room_mates_arrives_in_incremental_sync() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    assert_eq!(server.join(&bob, &room_id).await.0, StatusCode::OK);
    let first = server.sync(&bob, None, 0).await;
    let since = first["next_batch"].as_str().expect("next_batch").to_owned();
    let (status, _) = server
        .put(
            &format!("/_matrix/client/v3/presence/{}/status", alice.user_id),
            Some(&alice.access_token),
            json!({ "presence": "online", "status_msg": "here" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let later = server.sync(&bob, Some(&since), 5000).await;
    let events = later["presence"]["events"].as_array().expect("presence");
    assert!(
        events
            .iter()
            .any(|event| event["sender"] == alice.user_id.as_str()
                && event["content"]["presence"] == "online"
                && event["content"]["status_msg"] == "here"),
        "{later}"
    );
}

/// A transaction id is scoped to the device and the request path [Complement TestTxnIdempotency].
#[tokio::test]
async fn transaction_ids_are_scoped_to_the_request_path() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let first_room = server.create_room(&alice, json!({})).await;
    let second_room = server.create_room(&alice, json!({})).await;
    let token = Some(alice.access_token.as_str());
    let send = |room: &str, body: &str| {
        (
            format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/txn1"),
            json!({ "msgtype": "m.text", "body": body }),
        )
    };
    let (path, body) = send(&first_room, "first");
    let (_, first) = server.put(&path, token, body).await;
    let (path, body) = send(&second_room, "second");
    let (_, second) = server.put(&path, token, body).await;
    assert_ne!(
        first["event_id"], second["event_id"],
        "another room, another event"
    );
    // The same path again, even with other content, is the first request again.
    let (path, body) = send(&first_room, "other content");
    let (_, again) = server.put(&path, token, body).await;
    assert_eq!(again["event_id"], first["event_id"]);
    let (_, page) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{second_room}/messages?dir=b"),
            token,
        )
        .await;
    assert!(crate::common::message_bodies(&page["chunk"]).contains(&"second".to_owned()));
}

/// A redacted reaction is no longer a relation: it leaves `/relations` [Complement TestRelations].
#[tokio::test]
async fn redacted_reactions_leave_the_relations() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let room_id = server.create_room(&alice, json!({})).await;
    let target = server.send_text(&alice, &room_id, "react to me").await;
    let token = Some(alice.access_token.as_str());
    let (_, reaction) = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room_id}/send/m.reaction/r1"),
            token,
            json!({ "m.relates_to": { "rel_type": "m.annotation", "event_id": target, "key": "👍" } }),
        )
        .await;
    let reaction_id = reaction["event_id"].as_str().expect("event id").to_owned();
    let relations = format!("/_matrix/client/v1/rooms/{room_id}/relations/{target}");
    let (_, before) = server.get(&relations, token).await;
    assert_eq!(
        before["chunk"].as_array().map(Vec::len),
        Some(1),
        "{before}"
    );
    let (status, _) = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room_id}/redact/{reaction_id}/x1"),
            token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, after) = server.get(&relations, token).await;
    assert_eq!(after["chunk"], json!([]), "{after}");
    // The same reaction may be sent again: the redacted one no longer counts as a duplicate.
    let (status, again) = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room_id}/send/m.reaction/r2"),
            token,
            json!({ "m.relates_to": { "rel_type": "m.annotation", "event_id": target, "key": "👍" } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
}

/// Every event carries the reader's membership at that event (spec 1.11)
/// [Complement TestMembershipOnEvents].
#[tokio::test]
async fn events_carry_the_readers_membership_at_the_event() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room_id = server
        .create_room(
            &alice,
            json!({ "preset": "public_chat", "initial_state": [{
                "type": "m.room.history_visibility", "state_key": "",
                "content": { "history_visibility": "world_readable" }
            }] }),
        )
        .await;
    server.send_text(&alice, &room_id, "before bob").await;
    assert_eq!(server.join(&bob, &room_id).await.0, StatusCode::OK);
    server.send_text(&alice, &room_id, "with bob").await;
    let (_, page) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=50"),
            Some(&bob.access_token),
        )
        .await;
    let membership_at = |body: &str| {
        page["chunk"]
            .as_array()
            .expect("chunk")
            .iter()
            .find(|event| event["content"]["body"] == body)
            .map(|event| event["unsigned"]["membership"].clone())
    };
    assert_eq!(membership_at("before bob"), Some(json!("leave")), "{page}");
    assert_eq!(membership_at("with bob"), Some(json!("join")), "{page}");
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

/// `/messages` with a `contains_url` filter finds the media events and says `end` while more
/// may follow [Complement TestRoomImageRoundtrip].
#[tokio::test]
async fn messages_filtered_by_url_find_media_and_page_on() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let room_id = server.create_room(&alice, json!({})).await;
    let token = Some(alice.access_token.as_str());
    for index in 0..3 {
        let (status, _) = server
            .put(
                &format!("/_matrix/client/v3/rooms/{room_id}/send/m.room.message/img{index}"),
                token,
                json!({ "msgtype": "m.image", "body": format!("image {index}"), "url": format!("mxc://localhost/media{index}") }),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        server
            .send_text(&alice, &room_id, &format!("text {index}"))
            .await;
    }
    let filter = crate::filters::encode(&json!({ "contains_url": true }));
    let (_, first) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=2&filter={filter}"),
            token,
        )
        .await;
    assert_eq!(
        crate::common::message_bodies(&first["chunk"]),
        ["image 2", "image 1"],
        "{first}"
    );
    let end = first["end"].as_str().expect("end: more may follow");
    let (_, second) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=2&from={end}&filter={filter}"),
            token,
        )
        .await;
    assert_eq!(
        crate::common::message_bodies(&second["chunk"]),
        ["image 0"],
        "{second}"
    );
}

/// `/members?at=` is the membership as of that sync token [Complement TestGetRoomMembersAtPoint].
#[tokio::test]
async fn members_at_a_point_are_those_of_that_point() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    assert_eq!(server.join(&bob, &room_id).await.0, StatusCode::OK);
    let sync = server.sync(&alice, None, 0).await;
    let at = sync["next_batch"].as_str().expect("next_batch").to_owned();
    assert_eq!(server.join(&carol, &room_id).await.0, StatusCode::OK);
    let (_, members) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/members?at={at}"),
            Some(&alice.access_token),
        )
        .await;
    let mut joined: Vec<&str> = members["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .filter(|event| event["content"]["membership"] == "join")
        .filter_map(|event| event["state_key"].as_str())
        .collect();
    joined.sort_unstable();
    assert_eq!(
        joined,
        [alice.user_id.as_str(), bob.user_id.as_str()],
        "{members}"
    );
}

/// A state change the timeline filter leaves out still reaches the client, in `state`.
#[tokio::test]
async fn state_changes_dropped_from_the_timeline_by_a_filter_arrive_as_state() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let room_id = server.create_room(&alice, json!({ "name": "Old" })).await;
    let filter =
        crate::filters::encode(&json!({ "room": { "timeline": { "types": ["m.room.message"] } } }));
    let (_, first) = server
        .get(
            &format!("/_matrix/client/v3/sync?timeout=0&filter={filter}"),
            Some(&alice.access_token),
        )
        .await;
    let since = first["next_batch"].as_str().expect("next_batch");
    let (status, _) = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.name/"),
            Some(&alice.access_token),
            json!({ "name": "New" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    server.send_text(&alice, &room_id, "after the rename").await;
    let (_, later) = server
        .get(
            &format!("/_matrix/client/v3/sync?timeout=0&since={since}&filter={filter}"),
            Some(&alice.access_token),
        )
        .await;
    let room = &later["rooms"]["join"][&room_id];
    let in_state = room["state"]["events"].as_array().is_some_and(|events| {
        events
            .iter()
            .any(|event| event["type"] == "m.room.name" && event["content"]["name"] == "New")
    });
    assert!(in_state, "the rename is lost: {room}");
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

/// A user who left reads the room's state as of leaving [Complement TestLeftRoomFixture];
/// after forgetting, the history is closed to them.
#[tokio::test]
async fn left_users_read_the_state_as_of_leaving_and_forgetting_closes_history() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat", "name": "Before" }))
        .await;
    assert_eq!(server.join(&bob, &room_id).await.0, StatusCode::OK);
    let leave = format!("/_matrix/client/v3/rooms/{room_id}/leave");
    assert_eq!(
        server
            .post(&leave, Some(&bob.access_token), json!({}))
            .await
            .0,
        StatusCode::OK
    );
    let (status, _) = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.name/"),
            Some(&alice.access_token),
            json!({ "name": "After" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, name) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.name/"),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{name}");
    assert_eq!(name["name"], "Before");
    let (status, state) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/state"),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{state}");
    assert!(
        state.as_array().is_some_and(|events| events
            .iter()
            .any(|event| event["type"] == "m.room.name" && event["content"]["name"] == "Before")),
        "{state}"
    );
    let (status, _) = server
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/forget"),
            Some(&bob.access_token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_error(
        &server
            .get(
                &format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b"),
                Some(&bob.access_token),
            )
            .await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
}

/// User-interactive auth with someone else's password does not authorise deleting one's own
/// device: 403 [Complement TestDeviceManagement].
#[tokio::test]
async fn uia_with_another_users_password_is_refused() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let device = format!("/_matrix/client/v3/devices/{}", alice.device_id);
    let (status, first) = server
        .request(
            reqwest::Method::DELETE,
            &device,
            Some(&alice.access_token),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let session = first["session"].as_str().expect("session");
    let bob_localpart = bob
        .user_id
        .trim_start_matches('@')
        .split(':')
        .next()
        .expect("localpart");
    let (status, answer) = server
        .request(
            reqwest::Method::DELETE,
            &device,
            Some(&alice.access_token),
            Some(json!({ "auth": {
                "type": "m.login.password",
                "identifier": { "type": "m.id.user", "user": bob_localpart },
                "password": PASSWORD,
                "session": session,
            } })),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert_eq!(answer["errcode"], "M_FORBIDDEN");
    let (status, _) = server
        .get(
            "/_matrix/client/v3/account/whoami",
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "the device is still there");
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

/// `/context` applies its filter to the events around the one asked for.
#[tokio::test]
async fn context_applies_its_filter_to_the_events_around() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let room_id = server.create_room(&alice, json!({})).await;
    server.send_text(&alice, &room_id, "before").await;
    let (status, _) = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.topic/"),
            Some(&alice.access_token),
            json!({ "topic": "in between" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let middle = server.send_text(&alice, &room_id, "middle").await;
    server.send_text(&alice, &room_id, "after").await;
    let filter = crate::filters::encode(&json!({ "types": ["m.room.message"] }));
    let (status, context) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/context/{middle}?limit=4&filter={filter}"),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{context}");
    let around: Vec<&serde_json::Value> = context["events_before"]
        .as_array()
        .expect("before")
        .iter()
        .chain(context["events_after"].as_array().expect("after"))
        .collect();
    assert!(!around.is_empty(), "{context}");
    assert!(
        around.iter().all(|event| event["type"] == "m.room.message"),
        "{context}"
    );
    assert_eq!(context["event"]["content"]["body"], "middle");
}

/// Searching an upgraded room searches its predecessor too [Complement TestSearch].
#[tokio::test]
async fn search_in_an_upgraded_room_covers_its_predecessor() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let room_id = server.create_room(&alice, json!({})).await;
    server
        .send_text(&alice, &room_id, "needle in the old room")
        .await;
    let (status, upgraded) = server
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/upgrade"),
            Some(&alice.access_token),
            json!({ "new_version": "12" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{upgraded}");
    let new_room = upgraded["replacement_room"].as_str().expect("replacement");
    server
        .send_text(&alice, new_room, "needle in the new room")
        .await;
    let (status, found) = server
        .post(
            "/_matrix/client/v3/search",
            Some(&alice.access_token),
            json!({ "search_categories": { "room_events": {
                "search_term": "needle", "filter": { "rooms": [new_room] }
            } } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    let results = &found["search_categories"]["room_events"];
    assert_eq!(results["count"], 2, "{found}");
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

/// A left room in an initial sync with `include_leave` shows history only up to the leave
/// [Complement TestArchivedRoomsHistory].
#[tokio::test]
async fn left_rooms_show_history_up_to_the_leave() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    assert_eq!(server.join(&bob, &room_id).await.0, StatusCode::OK);
    server
        .send_text(&alice, &room_id, "while bob is here")
        .await;
    let leave = format!("/_matrix/client/v3/rooms/{room_id}/leave");
    assert_eq!(
        server
            .post(&leave, Some(&bob.access_token), json!({}))
            .await
            .0,
        StatusCode::OK
    );
    server.send_text(&alice, &room_id, "after bob left").await;
    let filter = crate::filters::encode(&json!({ "room": { "include_leave": true } }));
    let (_, sync) = server
        .get(
            &format!("/_matrix/client/v3/sync?timeout=0&filter={filter}"),
            Some(&bob.access_token),
        )
        .await;
    let left = &sync["rooms"]["leave"][&room_id];
    let bodies = crate::common::message_bodies(&left["timeline"]["events"]);
    assert!(bodies.contains(&"while bob is here".to_owned()), "{left}");
    assert!(!bodies.contains(&"after bob left".to_owned()), "{left}");
    let last = left["timeline"]["events"]
        .as_array()
        .and_then(|events| events.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        last["type"], "m.room.member",
        "the leave closes the timeline: {left}"
    );
    assert_eq!(last["content"]["membership"], "leave");
}
