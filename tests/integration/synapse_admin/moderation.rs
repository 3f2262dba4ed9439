//! Moderation: erasure, shadow-bans, message rates and suspension, redacting what a user sent.

use super::*;

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
