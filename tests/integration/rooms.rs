//! Room creation, state, membership and authorization.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{TestServer, assert_error, message_bodies};

#[tokio::test]
async fn created_rooms_have_the_presets_state_in_each_room_version() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    for version in ["10", "11", "12"] {
        let body = json!({ "room_version": version, "name": "Garden", "topic": "Plants", "preset": "public_chat" });
        let room_id = server.create_room(&alice, body).await;
        assert_eq!(
            room_id.contains(':'),
            version != "12",
            "v12 room ids have no server part: {room_id}"
        );
        let (status, state) = server
            .get(
                &format!("/_matrix/client/v3/rooms/{room_id}/state"),
                Some(&alice.access_token),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let find = |kind: &str| {
            state
                .as_array()
                .expect("state")
                .iter()
                .find(|event| event["type"] == kind)
                .cloned()
                .unwrap_or_else(|| panic!("{kind} missing in v{version}"))
        };
        let create = find("m.room.create");
        assert_eq!(create["content"]["room_version"], version);
        assert_eq!(
            create["content"].get("creator").is_some(),
            version == "10",
            "creator field only before v11"
        );
        assert_eq!(create["sender"], alice.user_id.as_str());
        let power = find("m.room.power_levels");
        assert_eq!(
            power["content"]["users"].get(&alice.user_id).is_some(),
            version != "12",
            "v12 creators are implicit"
        );
        assert_eq!(find("m.room.join_rules")["content"]["join_rule"], "public");
        assert_eq!(
            find("m.room.history_visibility")["content"]["history_visibility"],
            "shared"
        );
        assert_eq!(find("m.room.name")["content"]["name"], "Garden");
        assert_eq!(find("m.room.topic")["content"]["topic"], "Plants");
        assert_eq!(find("m.room.member")["content"]["membership"], "join");
        assert_eq!(find("m.room.member")["content"]["displayname"], "alice");
    }
    let refused = server
        .post(
            "/_matrix/client/v3/createRoom",
            Some(&alice.access_token),
            // Version 1 needs state resolution v1, which ruma does not implement.
            json!({ "room_version": "1" }),
        )
        .await;
    assert_error(
        &refused,
        StatusCode::BAD_REQUEST,
        "M_UNSUPPORTED_ROOM_VERSION",
    );
}

#[tokio::test]
async fn state_can_be_read_by_key_with_or_without_a_trailing_slash() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let room_id = server.create_room(&alice, json!({ "name": "First" })).await;
    let base = format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.name");
    for path in [base.clone(), format!("{base}/")] {
        let (status, content) = server.get(&path, Some(&alice.access_token)).await;
        assert_eq!(
            (status, content),
            (StatusCode::OK, json!({ "name": "First" })),
            "{path}"
        );
    }
    let (status, sent) = server
        .put(
            &format!("{base}/"),
            Some(&alice.access_token),
            json!({ "name": "Second" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, event) = server
        .get(&format!("{base}?format=event"), Some(&alice.access_token))
        .await;
    assert_eq!(event["event_id"], sent["event_id"]);
    assert_eq!(event["content"]["name"], "Second");
    assert_eq!(
        event["unsigned"]["prev_content"]["name"], "First",
        "the replaced state rides along: {event}"
    );
    assert_eq!(event["unsigned"]["prev_sender"], alice.user_id.as_str());
    assert!(event["unsigned"]["age"].as_u64().is_some());
    assert_eq!(event["room_id"], room_id.as_str());
    let (_, again) = server
        .put(
            &base,
            Some(&alice.access_token),
            json!({ "name": "Second" }),
        )
        .await;
    assert_eq!(
        again["event_id"], sent["event_id"],
        "identical state is not sent twice"
    );
    assert_error(
        &server
            .get(
                &format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.avatar"),
                Some(&alice.access_token),
            )
            .await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
    let long_key = "k".repeat(300);
    let too_long = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room_id}/state/org.example/{long_key}"),
            Some(&alice.access_token),
            json!({}),
        )
        .await;
    assert_error(&too_long, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
}

#[tokio::test]
async fn private_rooms_need_an_invite_and_public_rooms_do_not() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let private = server.create_room(&alice, json!({})).await;
    assert_error(
        &server.join(&bob, &private).await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    assert_error(
        &server
            .get(
                &format!("/_matrix/client/v3/rooms/{private}/messages?dir=b"),
                Some(&bob.access_token),
            )
            .await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    let send = server
        .put(
            &format!("/_matrix/client/v3/rooms/{private}/send/m.room.message/x"),
            Some(&bob.access_token),
            json!({ "body": "hi", "msgtype": "m.text" }),
        )
        .await;
    assert_error(&send, StatusCode::FORBIDDEN, "M_FORBIDDEN");

    assert_eq!(
        server.invite(&alice, &private, &bob).await.0,
        StatusCode::OK
    );
    let (status, joined) = server.join(&bob, &private).await;
    assert_eq!(
        (status, joined["room_id"].as_str()),
        (StatusCode::OK, Some(private.as_str()))
    );

    let public = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    assert_eq!(server.join(&bob, &public).await.0, StatusCode::OK);
    let (_, rooms) = server
        .get("/_matrix/client/v3/joined_rooms", Some(&bob.access_token))
        .await;
    let mut joined_rooms: Vec<&str> = rooms["joined_rooms"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|r| r.as_str())
        .collect();
    joined_rooms.sort_unstable();
    let mut expected = vec![private.as_str(), public.as_str()];
    expected.sort_unstable();
    assert_eq!(joined_rooms, expected);

    let (_, members) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{public}/joined_members"),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(members["joined"][&alice.user_id]["display_name"], "alice");
    assert!(members["joined"].get(&bob.user_id).is_some());
}

#[tokio::test]
async fn power_levels_guard_state_kicks_bans_and_redactions() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    server.join(&bob, &room).await;

    let rename = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.name/"),
            Some(&bob.access_token),
            json!({ "name": "Bob's" }),
        )
        .await;
    assert_error(&rename, StatusCode::FORBIDDEN, "M_FORBIDDEN");
    let alice_message = server.send_text(&alice, &room, "from alice").await;
    let bob_message = server.send_text(&bob, &room, "from bob").await;
    let redact_other = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/redact/{alice_message}/r1"),
            Some(&bob.access_token),
            json!({}),
        )
        .await;
    assert_error(&redact_other, StatusCode::FORBIDDEN, "M_FORBIDDEN");
    let kick = server
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/kick"),
            Some(&bob.access_token),
            json!({ "user_id": alice.user_id }),
        )
        .await;
    assert_error(&kick, StatusCode::FORBIDDEN, "M_FORBIDDEN");

    let (status, _) = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/redact/{bob_message}/r2"),
            Some(&alice.access_token),
            json!({ "reason": "spam" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "moderators redact others' events");
    let (_, redacted) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/event/{bob_message}"),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(redacted["content"], json!({}), "content is stripped");
    assert_eq!(
        redacted["unsigned"]["redacted_because"]["content"]["reason"],
        "spam"
    );
    let (_, history) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=50"),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(
        message_bodies(&history["chunk"]),
        ["from alice"],
        "the redacted body is gone from history too"
    );

    let (status, _) = server
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/ban"),
            Some(&alice.access_token),
            json!({ "user_id": bob.user_id, "reason": "rude" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_error(
        &server.join(&bob, &room).await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    let (_, member) = server
        .get(
            &format!(
                "/_matrix/client/v3/rooms/{room}/state/m.room.member/{}",
                bob.user_id
            ),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(
        (member["membership"].as_str(), member["reason"].as_str()),
        (Some("ban"), Some("rude"))
    );
    let (status, _) = server
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/unban"),
            Some(&alice.access_token),
            json!({ "user_id": bob.user_id }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        server.join(&bob, &room).await.0,
        StatusCode::OK,
        "unbanned users may join a public room again"
    );

    let (status, _) = server
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/kick"),
            Some(&alice.access_token),
            json!({ "user_id": bob.user_id }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, members) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/members?membership=leave"),
            Some(&alice.access_token),
        )
        .await;
    let left: Vec<&str> = members["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .filter_map(|event| event["state_key"].as_str())
        .collect();
    assert_eq!(left, [bob.user_id.as_str()]);
}

#[tokio::test]
async fn messages_are_idempotent_per_transaction_and_bounded_in_size() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let room = server.create_room(&alice, json!({})).await;
    let path = format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/same-txn");
    let (_, first) = server
        .put(
            &path,
            Some(&alice.access_token),
            json!({ "msgtype": "m.text", "body": "once" }),
        )
        .await;
    let (_, second) = server
        .put(
            &path,
            Some(&alice.access_token),
            json!({ "msgtype": "m.text", "body": "once" }),
        )
        .await;
    assert_eq!(first["event_id"], second["event_id"]);
    let (_, history) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b"),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(message_bodies(&history["chunk"]), ["once"]);
    assert_eq!(
        history["chunk"][0]["unsigned"]["transaction_id"], "same-txn",
        "the sending device sees its transaction id"
    );

    let huge = json!({ "msgtype": "m.text", "body": "x".repeat(70_000) });
    assert_error(
        &server
            .put(
                &format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/big"),
                Some(&alice.access_token),
                huge,
            )
            .await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "M_TOO_LARGE",
    );
    let floats = json!({ "msgtype": "m.text", "body": "x", "weight": 1.5 });
    assert_error(
        &server
            .put(
                &format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/float"),
                Some(&alice.access_token),
                floats,
            )
            .await,
        StatusCode::BAD_REQUEST,
        "M_BAD_JSON",
    );
    assert_error(
        &server
            .put(
                "/_matrix/client/v3/rooms/!nosuchroom:localhost/send/m.room.message/t",
                Some(&alice.access_token),
                json!({ "body": "x" }),
            )
            .await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
    assert_error(
        &server
            .put(
                "/_matrix/client/v3/rooms/not-a-room/send/m.room.message/t",
                Some(&alice.access_token),
                json!({ "body": "x" }),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "M_INVALID_PARAM",
    );
    let (_, after) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b"),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(
        message_bodies(&after["chunk"]),
        ["once"],
        "refused events left no trace"
    );
}

#[tokio::test]
async fn history_paginates_both_ways_without_gaps() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let room = server.create_room(&alice, json!({})).await;
    for index in 0..25 {
        server.send_text(&alice, &room, &format!("m{index}")).await;
    }
    let mut backwards = Vec::new();
    let mut from: Option<String> = None;
    loop {
        let mut path = format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=10");
        if let Some(token) = &from {
            path.push_str(&format!("&from={token}"));
        }
        let (status, page) = server.get(&path, Some(&alice.access_token)).await;
        assert_eq!(status, StatusCode::OK);
        backwards.extend(message_bodies(&page["chunk"]));
        match page["end"].as_str() {
            Some(end) => from = Some(end.to_owned()),
            None => break,
        }
    }
    let expected: Vec<String> = (0..25).rev().map(|index| format!("m{index}")).collect();
    assert_eq!(backwards, expected);

    let (_, forwards) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/messages?dir=f&limit=100"),
            Some(&alice.access_token),
        )
        .await;
    let forward_bodies = message_bodies(&forwards["chunk"]);
    assert_eq!(
        forward_bodies,
        expected.iter().rev().cloned().collect::<Vec<_>>()
    );
    assert_eq!(
        forwards["chunk"][0]["type"], "m.room.create",
        "forwards starts at the beginning of the room"
    );
    assert!(
        forwards.get("end").is_none(),
        "no more events after the last page"
    );
}

#[tokio::test]
async fn sending_is_rate_limited_per_user() {
    let server = TestServer::start_with(|config| {
        config.rate_limits.enabled = true;
        config.rate_limits.registration_per_ip = myelin_core::config::Bucket {
            per_second: 100.0,
            burst: 100,
        };
        config.rate_limits.messages_per_user = myelin_core::config::Bucket {
            per_second: 0.1,
            burst: 3,
        };
    })
    .await;
    let alice = server.register("alice").await;
    let room = server.create_room(&alice, json!({})).await;
    for index in 0..3 {
        server
            .send_text(&alice, &room, &format!("ok {index}"))
            .await;
    }
    let limited = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/over"),
            Some(&alice.access_token),
            json!({ "msgtype": "m.text", "body": "too fast" }),
        )
        .await;
    assert_error(&limited, StatusCode::TOO_MANY_REQUESTS, "M_LIMIT_EXCEEDED");
    assert!(
        limited.1["retry_after_ms"]
            .as_u64()
            .is_some_and(|ms| ms > 0)
    );
    let (_, history) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b"),
            Some(&alice.access_token),
        )
        .await;
    assert!(
        !message_bodies(&history["chunk"]).contains(&"too fast".to_owned()),
        "the refused message was not sent"
    );
}
