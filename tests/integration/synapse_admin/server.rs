//! Registration tokens, reports, federation destinations and server notices.

use super::*;

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
