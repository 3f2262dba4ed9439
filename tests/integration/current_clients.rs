//! What today's clients use beyond the core spec (Element X, Element Web, Element Call):
//! Complement's `tests/msc*` packages are the checklist.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestServer, TestUser};

/// Unread notification count of `user` in `room_id`, from an initial sync.
async fn notifications(server: &TestServer, user: &TestUser, room_id: &str) -> u64 {
    let sync = server.sync(user, None, 0).await;
    sync["rooms"]["join"][room_id]["unread_notifications"]["notification_count"]
        .as_u64()
        .unwrap_or_default()
}

pub(crate) async fn send(
    server: &TestServer,
    user: &TestUser,
    room_id: &str,
    kind: &str,
    content: Value,
) -> String {
    let txn = format!("t{}", rand::random::<u64>());
    let (status, body) = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room_id}/send/{kind}/{txn}"),
            Some(&user.access_token),
            content,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["event_id"].as_str().expect("event_id").to_owned()
}

/// Poll push rules (MSC3930, under their unstable ids as Synapse has them): a poll's start and
/// end notify like messages, in one-to-one and group rooms; votes do not; and the rules are in
/// every user's rule set [Complement tests/msc3930].
#[tokio::test]
async fn polls_notify_when_they_start_and_end_but_votes_do_not() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let (_, rules) = server
        .get("/_matrix/client/v3/pushrules/", Some(&bob.access_token))
        .await;
    let ids: Vec<&str> = ["override", "underride"]
        .iter()
        .flat_map(|kind| rules["global"][kind].as_array().into_iter().flatten())
        .filter_map(|rule| rule["rule_id"].as_str())
        .collect();
    for rule in [
        ".org.matrix.msc3930.rule.poll_response",
        ".org.matrix.msc3930.rule.poll_start_one_to_one",
        ".org.matrix.msc3930.rule.poll_start",
        ".org.matrix.msc3930.rule.poll_end_one_to_one",
        ".org.matrix.msc3930.rule.poll_end",
    ] {
        assert!(ids.contains(&rule), "{rule} in {ids:?}");
    }
    for group in [false, true] {
        let room_id = server
            .create_room(&alice, json!({ "preset": "public_chat" }))
            .await;
        assert_eq!(server.join(&bob, &room_id).await.0, StatusCode::OK);
        if group {
            let carol = server
                .register(&format!("carol{}", rand::random::<u32>()))
                .await;
            assert_eq!(server.join(&carol, &room_id).await.0, StatusCode::OK);
        }
        let start = send(
            &server,
            &alice,
            &room_id,
            "org.matrix.msc3381.poll.start",
            json!({ "org.matrix.msc3381.poll.start": { "question": { "org.matrix.msc1767.text": "Tea?" }, "answers": [] } }),
        )
        .await;
        assert_eq!(
            notifications(&server, &bob, &room_id).await,
            1,
            "group: {group}"
        );
        send(
            &server,
            &alice,
            &room_id,
            "org.matrix.msc3381.poll.response",
            json!({ "m.relates_to": { "rel_type": "m.reference", "event_id": start }, "org.matrix.msc3381.poll.response": { "answers": [] } }),
        )
        .await;
        assert_eq!(
            notifications(&server, &bob, &room_id).await,
            1,
            "votes are quiet"
        );
        send(
            &server,
            &alice,
            &room_id,
            "org.matrix.msc3381.poll.end",
            json!({ "m.relates_to": { "rel_type": "m.reference", "event_id": start } }),
        )
        .await;
        assert_eq!(
            notifications(&server, &bob, &room_id).await,
            2,
            "group: {group}"
        );
    }
}

/// Relation-type filters on `/messages` (MSC3874): `rel_types` keeps only events with one of
/// those relations, `not_rel_types` leaves them out, as a thread-aware client pages a room's
/// main timeline [Complement tests/msc3874].
#[tokio::test]
async fn messages_filter_by_relation_type() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let room_id = server.create_room(&alice, json!({})).await;
    let root = server.send_text(&alice, &room_id, "root").await;
    let thread = json!({ "rel_type": "m.thread", "event_id": root });
    for body in ["in thread 1", "in thread 2"] {
        send(
            &server,
            &alice,
            &room_id,
            "m.room.message",
            json!({ "msgtype": "m.text", "body": body, "m.relates_to": thread }),
        )
        .await;
    }
    send(
        &server,
        &alice,
        &room_id,
        "m.room.message",
        json!({ "msgtype": "m.text", "body": "reference", "m.relates_to": { "rel_type": "m.reference", "event_id": root } }),
    )
    .await;
    server.send_text(&alice, &room_id, "plain").await;
    let page = async |filter: Value| -> Vec<String> {
        let encoded = crate::filters::encode(&filter);
        let (status, body) = server
            .get(
                &format!(
                    "/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=50&filter={encoded}"
                ),
                Some(&alice.access_token),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        crate::common::message_bodies(&body["chunk"])
    };
    assert_eq!(
        page(json!({ "org.matrix.msc3874.rel_types": ["m.thread"] })).await,
        ["in thread 2", "in thread 1"]
    );
    assert_eq!(
        page(json!({ "org.matrix.msc3874.not_rel_types": ["m.thread"] })).await,
        ["plain", "reference", "root"]
    );
    assert_eq!(
        page(json!({ "org.matrix.msc3874.rel_types": ["m.thread", "m.reference"], "types": ["m.room.message"] })).await,
        ["reference", "in thread 2", "in thread 1"]
    );
}

/// Account data deletion (MSC3391): after `DELETE`, `GET` is 404, an incremental sync sends
/// the entry empty (how clients learn it is gone) and an initial sync leaves it out; global
/// and room entries alike [Complement tests/msc3391].
#[tokio::test]
async fn account_data_can_be_deleted() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let room_id = server.create_room(&alice, json!({})).await;
    let user = &alice.user_id;
    let global = format!("/_matrix/client/v3/user/{user}/account_data/org.example.flag");
    let in_room =
        format!("/_matrix/client/v3/user/{user}/rooms/{room_id}/account_data/org.example.flag");
    for path in [&global, &in_room] {
        let (status, body) = server
            .put(path, Some(&alice.access_token), json!({ "on": true }))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let since = server.sync(&alice, None, 0).await["next_batch"]
        .as_str()
        .expect("next_batch")
        .to_owned();
    let unstable = |path: &str| path.replace("/client/v3/", "/client/unstable/org.matrix.msc3391/");
    for path in [&global, &in_room] {
        let (status, body) = server
            .request(
                reqwest::Method::DELETE,
                &unstable(path),
                Some(&alice.access_token),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = server.get(path, Some(&alice.access_token)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(body["errcode"], "M_NOT_FOUND");
    }
    let flag = |events: &Value| -> Option<Value> {
        events
            .as_array()?
            .iter()
            .find(|event| event["type"] == "org.example.flag")
            .map(|event| event["content"].clone())
    };
    let incremental = server.sync(&alice, Some(&since), 0).await;
    assert_eq!(
        flag(&incremental["account_data"]["events"]),
        Some(json!({})),
        "{incremental}"
    );
    assert_eq!(
        flag(&incremental["rooms"]["join"][&room_id]["account_data"]["events"]),
        Some(json!({})),
        "{incremental}"
    );
    let initial = server.sync(&alice, None, 0).await;
    assert_eq!(flag(&initial["account_data"]["events"]), None, "{initial}");
    assert_eq!(
        flag(&initial["rooms"]["join"][&room_id]["account_data"]["events"]),
        None,
        "{initial}"
    );
    // Someone else's account data is not theirs to delete.
    let bob = server.register("bob").await;
    let (status, _) = server
        .request(
            reqwest::Method::DELETE,
            &unstable(&global),
            Some(&bob.access_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// A device's own notification settings (MSC3890's
/// `org.matrix.msc3890.local_notification_settings.<device>`) are deleted with the device
/// [Complement tests/msc3890].
#[tokio::test]
async fn local_notification_settings_go_with_their_device() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let (_, login) = server.login("alice", crate::common::PASSWORD).await;
    let second = login["device_id"].as_str().expect("device_id").to_owned();
    let kind = format!("org.matrix.msc3890.local_notification_settings.{second}");
    let path = format!(
        "/_matrix/client/v3/user/{}/account_data/{kind}",
        alice.user_id
    );
    let (status, body) = server
        .put(
            &path,
            Some(&alice.access_token),
            json!({ "is_silenced": true }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let since = server.sync(&alice, None, 0).await["next_batch"]
        .as_str()
        .expect("next_batch")
        .to_owned();
    let (status, body) = server
        .post(
            "/_matrix/client/v3/delete_devices",
            Some(&alice.access_token),
            json!({ "devices": [second], "auth": TestServer::password_auth(&alice, None) }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = server.get(&path, Some(&alice.access_token)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let sync = server.sync(&alice, Some(&since), 0).await;
    let deleted = sync["account_data"]["events"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|event| event["type"] == kind.as_str() && event["content"] == json!({}));
    assert!(deleted, "{sync}");
}

/// Invite blocking: `m.invite_permission_config` with `block_all` (spec v1.18, MSC4380) refuses
/// invites with `M_INVITE_BLOCKED`, from local and from remote inviters; the MSC4155 form
/// allows, ignores (taken, never in the invitee's sync) or blocks by user and server globs
/// [Complement tests/msc4155].
#[tokio::test(flavor = "multi_thread")]
async fn invites_can_be_blocked_or_ignored() {
    let (a, _) = TestServer::start_federated().await;
    let (b, _) = TestServer::start_federated().await;
    let alice = a.register("alice").await;
    let carol = a.register("carol").await;
    let bob = b.register("bob").await;
    let (_, capabilities) = a
        .get("/_matrix/client/v3/capabilities", Some(&alice.access_token))
        .await;
    assert_eq!(
        capabilities["capabilities"]["m.invite_permission_config_enforced"]["enabled"],
        true
    );
    let set = async |server: &TestServer, user: &TestUser, kind: &str, content: Value| {
        let (status, body) = server
            .put(
                &format!(
                    "/_matrix/client/v3/user/{}/account_data/{kind}",
                    user.user_id
                ),
                Some(&user.access_token),
                content,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    };
    let invite = async |server: &TestServer, inviter: &TestUser, room: &str, invitee: &str| {
        server
            .post(
                &format!("/_matrix/client/v3/rooms/{room}/invite"),
                Some(&inviter.access_token),
                json!({ "user_id": invitee }),
            )
            .await
    };
    // Carol blocks everything: Alice's local invite is refused.
    set(
        &a,
        &carol,
        "m.invite_permission_config",
        json!({ "block_all": true }),
    )
    .await;
    let room = a.create_room(&alice, json!({})).await;
    let refused = invite(&a, &alice, &room, &carol.user_id).await;
    assert_eq!(refused.0, StatusCode::FORBIDDEN, "{}", refused.1);
    assert_eq!(refused.1["errcode"], "M_INVITE_BLOCKED");
    // Bob, on another server, blocks Alice's server: her invite is refused by his server.
    set(
        &b,
        &bob,
        "org.matrix.msc4155.invite_permission_config",
        json!({ "blocked_servers": [a.server_name()] }),
    )
    .await;
    let refused = invite(&a, &alice, &room, &bob.user_id).await;
    assert_eq!(refused.0, StatusCode::FORBIDDEN, "{}", refused.1);
    assert_eq!(refused.1["errcode"], "M_INVITE_BLOCKED", "{}", refused.1);
    // Carol now only ignores Alice: the invite goes through, and never reaches her sync.
    set(&a, &carol, "m.invite_permission_config", json!({})).await;
    set(
        &a,
        &carol,
        "org.matrix.msc4155.invite_permission_config",
        json!({ "ignored_users": [alice.user_id], "blocked_servers": ["*"] }),
    )
    .await;
    let ignored = invite(&a, &alice, &room, &carol.user_id).await;
    assert_eq!(ignored.0, StatusCode::OK, "{}", ignored.1);
    let sync = a.sync(&carol, None, 0).await;
    assert!(sync["rooms"]["invite"].get(&room).is_none(), "{sync}");
    // An allowed user gets through the blocked servers.
    let dave = a.register("dave").await;
    set(
        &a,
        &carol,
        "org.matrix.msc4155.invite_permission_config",
        json!({ "allowed_users": [dave.user_id], "blocked_servers": ["*"] }),
    )
    .await;
    let dave_room = a.create_room(&dave, json!({})).await;
    assert_eq!(
        invite(&a, &dave, &dave_room, &carol.user_id).await.0,
        StatusCode::OK
    );
    let sync = a.sync(&carol, None, 0).await;
    assert!(sync["rooms"]["invite"].get(&dave_room).is_some(), "{sync}");
}

/// A redaction sent as an event through `/send` (spec v1.18, MSC4169) redacts like one through
/// `/redact`, with the same checks; one without `content.redacts` is refused.
#[tokio::test]
async fn redactions_can_be_sent_as_events() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    assert_eq!(server.join(&bob, &room_id).await.0, StatusCode::OK);
    let mine = server.send_text(&bob, &room_id, "oops").await;
    let alices = server.send_text(&alice, &room_id, "not bob's").await;
    send(
        &server,
        &bob,
        &room_id,
        "m.room.redaction",
        json!({ "redacts": mine, "reason": "typo" }),
    )
    .await;
    let (_, event) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/event/{mine}"),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(event["content"], json!({}), "{event}");
    assert!(event["unsigned"]["redacted_because"].is_object(), "{event}");
    let txn = format!("t{}", rand::random::<u64>());
    let (status, body) = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room_id}/send/m.room.redaction/{txn}"),
            Some(&bob.access_token),
            json!({ "redacts": alices }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room_id}/send/m.room.redaction/{txn}x"),
            Some(&bob.access_token),
            json!({ "reason": "nothing named" }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errcode"], "M_MISSING_PARAM");
}

/// `/versions` claims only what is served: every unstable feature it advertises has a probe
/// here that reaches its endpoint (anything but `404`/`405 M_UNRECOGNIZED`), and a feature
/// without a probe fails the test, so none can be advertised before it works.
#[tokio::test]
async fn versions_advertise_only_what_is_served() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let room_id = server.create_room(&alice, json!({})).await;
    let root = server.send_text(&alice, &room_id, "root").await;
    let user = alice.user_id.clone();
    let probes: Vec<(&str, reqwest::Method, String, Option<Value>)> = vec![
        (
            "org.matrix.e2e_cross_signing",
            reqwest::Method::POST,
            "/_matrix/client/v3/keys/device_signing/upload".into(),
            Some(json!({})),
        ),
        (
            "org.matrix.msc3391",
            reqwest::Method::DELETE,
            format!(
                "/_matrix/client/unstable/org.matrix.msc3391/user/{user}/account_data/org.example.x"
            ),
            None,
        ),
        (
            "org.matrix.msc3874",
            reqwest::Method::GET,
            format!(
                "/_matrix/client/v3/rooms/{room_id}/messages?dir=b&filter=%7B%22org.matrix.msc3874.rel_types%22%3A%5B%22m.thread%22%5D%7D"
            ),
            None,
        ),
        (
            "org.matrix.msc4140",
            reqwest::Method::GET,
            "/_matrix/client/unstable/org.matrix.msc4140/delayed_events".into(),
            None,
        ),
        (
            "org.matrix.msc4155",
            reqwest::Method::PUT,
            format!(
                "/_matrix/client/v3/user/{user}/account_data/org.matrix.msc4155.invite_permission_config"
            ),
            Some(json!({})),
        ),
        (
            "org.matrix.msc4222",
            reqwest::Method::GET,
            "/_matrix/client/v3/sync?timeout=0&use_state_after=true".into(),
            None,
        ),
        (
            "org.matrix.msc4306",
            reqwest::Method::PUT,
            format!(
                "/_matrix/client/unstable/io.element.msc4306/rooms/{room_id}/thread/{root}/subscription"
            ),
            Some(json!({})),
        ),
        (
            "org.matrix.msc4308",
            reqwest::Method::GET,
            "/_matrix/client/unstable/io.element.msc4308/thread_subscriptions?dir=b".into(),
            None,
        ),
        (
            "org.matrix.msc4380",
            reqwest::Method::PUT,
            format!("/_matrix/client/v3/user/{user}/account_data/m.invite_permission_config"),
            Some(json!({})),
        ),
        (
            "org.matrix.simplified_msc3575",
            reqwest::Method::POST,
            "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync".into(),
            Some(json!({})),
        ),
        (
            "uk.half-shot.msc2666.query_mutual_rooms.stable",
            reqwest::Method::GET,
            format!("/_matrix/client/v1/mutual_rooms?user_id={user}"),
            None,
        ),
        (
            "uk.timedout.msc4323",
            reqwest::Method::GET,
            format!("/_matrix/client/v1/admin/suspend/{user}"),
            None,
        ),
        (
            "im.nheko.summary",
            reqwest::Method::GET,
            format!("/_matrix/client/v1/room_summary/{room_id}"),
            None,
        ),
    ];
    let (_, versions) = server.get("/_matrix/client/versions", None).await;
    let advertised = versions["unstable_features"]
        .as_object()
        .expect("unstable_features");
    for (feature, enabled) in advertised {
        assert_eq!(enabled, &json!(true), "{feature}");
        let Some((_, method, path, body)) = probes.iter().find(|(name, ..)| name == feature) else {
            panic!("{feature} is advertised, but this test has no probe for it: add one");
        };
        let (status, answer) = server
            .request(
                method.clone(),
                path,
                Some(&alice.access_token),
                body.clone(),
            )
            .await;
        let unrecognised = answer["errcode"] == "M_UNRECOGNIZED";
        assert!(
            !unrecognised && status != StatusCode::METHOD_NOT_ALLOWED,
            "{feature}: {method} {path} answered {status} {answer}"
        );
    }
}
