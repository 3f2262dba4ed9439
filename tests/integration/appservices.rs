//! Application services: registration files, ghosts registered with the `as_token`, exclusive
//! namespaces, masquerading, timestamp massaging, transactions delivered in order and once
//! (also after the bridge was down), queries and the ping.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    appservice_bridge::{
        AS_TOKEN, Bridge, as_call, registration_text, server_with_bridge, server_with_bridge_and,
    },
    common::assert_error,
};

#[tokio::test(flavor = "multi_thread")]
async fn a_bridge_registers_ghosts_speaks_for_them_and_receives_events_in_order() {
    let bridge = Bridge::default();
    let (server, _dir) = server_with_bridge(&bridge).await;
    let alice = server.register("alice").await;

    // Ghosts are registered with the as_token; others may not take the namespace.
    let (status, ghost) = as_call(
        &server,
        reqwest::Method::POST,
        "/_matrix/client/v3/register",
        json!({ "type": "m.login.application_service", "username": "bridge_bob", "inhibit_login": true }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{ghost}");
    assert_eq!(ghost["user_id"], "@bridge_bob:localhost");
    let outside = as_call(
        &server,
        reqwest::Method::POST,
        "/_matrix/client/v3/register",
        json!({ "type": "m.login.application_service", "username": "carol" }),
    )
    .await;
    assert_error(&outside, StatusCode::BAD_REQUEST, "M_EXCLUSIVE");
    let squatter = server
        .post(
            "/_matrix/client/v3/register",
            None,
            json!({ "username": "bridge_eve", "password": crate::common::PASSWORD, "auth": { "type": "m.login.dummy" } }),
        )
        .await;
    assert_error(&squatter, StatusCode::BAD_REQUEST, "M_EXCLUSIVE");
    let wrong_token = server
        .request(
            reqwest::Method::GET,
            "/_matrix/client/v3/account/whoami",
            Some("not-a-token"),
            None,
        )
        .await;
    assert_error(&wrong_token, StatusCode::UNAUTHORIZED, "M_UNKNOWN_TOKEN");

    // The bridge acts as itself and, with ?user_id=, as its ghost; not as anyone else.
    let (status, whoami) = server
        .request(
            reqwest::Method::GET,
            "/_matrix/client/v3/account/whoami",
            Some(AS_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(whoami["user_id"], "@bridgebot:localhost");
    let masquerade = "?user_id=%40bridge_bob%3Alocalhost";
    let (status, whoami) = server
        .request(
            reqwest::Method::GET,
            &format!("/_matrix/client/v3/account/whoami{masquerade}"),
            Some(AS_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{whoami}");
    assert_eq!(whoami["user_id"], "@bridge_bob:localhost");
    let not_ours = server
        .request(
            reqwest::Method::GET,
            &format!(
                "/_matrix/client/v3/account/whoami?user_id={}",
                alice.user_id.replace('@', "%40").replace(':', "%3A")
            ),
            Some(AS_TOKEN),
            None,
        )
        .await;
    assert_error(&not_ours, StatusCode::FORBIDDEN, "M_FORBIDDEN");

    // The ghost makes a room and invites Alice: the bridge hears of the invite.
    let (status, created) = as_call(
        &server,
        reqwest::Method::POST,
        &format!("/_matrix/client/v3/createRoom{masquerade}"),
        json!({ "invite": [alice.user_id], "name": "bridged" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let room_id = created["room_id"].as_str().expect("room").to_owned();
    bridge
        .wait_for_event(|event| {
            event["type"] == "m.room.member"
                && event["state_key"] == json!(alice.user_id)
                && event["content"]["membership"] == "invite"
        })
        .await;

    // Alice joins and writes; the bridge gets her message.
    assert_eq!(server.join(&alice, &room_id).await.0, StatusCode::OK);
    let said = server.send_text(&alice, &room_id, "hello bridge").await;
    let delivered = bridge
        .wait_for_event(|event| event["event_id"] == json!(said))
        .await;
    assert_eq!(delivered["content"]["body"], "hello bridge");
    assert_eq!(delivered["room_id"], json!(room_id));

    // The ghost answers, with the bridged network's timestamp.
    let (status, answer) = as_call(
        &server,
        reqwest::Method::PUT,
        &format!(
            "/_matrix/client/v3/rooms/{room_id}/send/m.room.message/t1{masquerade}&ts=1234567890"
        ),
        json!({ "msgtype": "m.text", "body": "hello alice" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (_, event) = server
        .get(
            &format!(
                "/_matrix/client/v3/rooms/{room_id}/event/{}",
                answer["event_id"].as_str().expect("id")
            ),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(event["sender"], "@bridge_bob:localhost");
    assert_eq!(event["origin_server_ts"], 1234567890);
    assert_eq!(event["content"]["body"], "hello alice");
    let (status, topic) = as_call(
        &server,
        reqwest::Method::PUT,
        &format!(
            "/_matrix/client/v3/rooms/{room_id}/state/m.room.topic/{masquerade}&ts=1234567000"
        ),
        json!({ "topic": "bridged topic" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{topic}");
    let (_, event) = server
        .get(
            &format!(
                "/_matrix/client/v3/rooms/{room_id}/event/{}",
                topic["event_id"].as_str().expect("id")
            ),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(event["origin_server_ts"], 1234567000);
    // Ordinary users cannot massage timestamps.
    let (_, plain) = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room_id}/send/m.room.message/t2?ts=1"),
            Some(&alice.access_token),
            json!({ "msgtype": "m.text", "body": "now" }),
        )
        .await;
    let (_, event) = server
        .get(
            &format!(
                "/_matrix/client/v3/rooms/{room_id}/event/{}",
                plain["event_id"].as_str().expect("id")
            ),
            Some(&alice.access_token),
        )
        .await;
    assert_ne!(event["origin_server_ts"], 1);

    // The bridge goes down; messages queue and arrive once, in order, when it is back.
    *bridge.down.lock().expect("lock") = true;
    let mut sent = Vec::new();
    for index in 0..5 {
        sent.push(
            server
                .send_text(&alice, &room_id, &format!("queued {index}"))
                .await,
        );
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    *bridge.down.lock().expect("lock") = false;
    let last = sent.last().expect("sent").clone();
    bridge
        .wait_for_event(|event| event["event_id"] == json!(last))
        .await;
    let delivered: Vec<Value> = bridge
        .events()
        .into_iter()
        .filter(|event| sent.contains(&event["event_id"].as_str().unwrap_or_default().to_owned()))
        .map(|event| event["event_id"].clone())
        .collect();
    assert_eq!(
        delivered,
        sent.iter().map(|id| json!(id)).collect::<Vec<_>>(),
        "in order, once"
    );
    let txn_ids: Vec<String> = bridge
        .transactions
        .lock()
        .expect("lock")
        .iter()
        .map(|(id, _)| id.clone())
        .collect();
    let mut unique = txn_ids.clone();
    unique.dedup();
    assert_eq!(unique, txn_ids, "each transaction delivered once");

    // An exclusive alias is the bridge's; unknown ones in its namespace are asked of it.
    let taken = server
        .put(
            "/_matrix/client/v3/directory/room/%23bridge_general:localhost",
            Some(&alice.access_token),
            json!({ "room_id": room_id }),
        )
        .await;
    assert_error(&taken, StatusCode::BAD_REQUEST, "M_EXCLUSIVE");
    let unknown = server
        .get(
            "/_matrix/client/v3/directory/room/%23bridge_other:localhost",
            Some(&alice.access_token),
        )
        .await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "M_NOT_FOUND");
    assert!(
        bridge
            .queries
            .lock()
            .expect("lock")
            .iter()
            .any(|query| query == "#bridge_other:localhost"),
        "the bridge was asked"
    );

    // The ping.
    let (status, pinged) = as_call(
        &server,
        reqwest::Method::POST,
        "/_matrix/client/v1/appservice/testbridge/ping",
        json!({ "transaction_id": "ping-1" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{pinged}");
    assert!(pinged["duration_ms"].is_u64());
    assert_eq!(
        bridge.pings.lock().expect("lock")[0]["transaction_id"],
        "ping-1"
    );
    let not_allowed = server
        .post(
            "/_matrix/client/v1/appservice/testbridge/ping",
            Some(&alice.access_token),
            json!({}),
        )
        .await;
    assert_error(&not_allowed, StatusCode::FORBIDDEN, "M_FORBIDDEN");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_registration_files_stop_the_server_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("broken.yaml");
    std::fs::write(
        &file,
        "id: broken\nurl: null\nas_token: a\nhs_token: b\nsender_localpart: bot\nnamespaces:\n  users:\n    - exclusive: true\n      regex: '@broken_(:localhost'\n",
    )
    .expect("write");
    let mut config = crate::common::test_config(dir.path());
    config.appservices.registration_files = vec![file];
    let error = myelin::RunningServer::start(config)
        .await
        .err()
        .expect("refused");
    let message = error.to_string();
    assert!(
        message.contains("regex") && message.contains("broken.yaml"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn typing_receipts_and_to_device_messages_reach_bridges_that_ask_for_them() {
    let bridge = Bridge::default();
    let (server, _dir) =
        server_with_bridge_and(&bridge, "de.sorunome.msc2409.push_ephemeral: true\n").await;
    let alice = server.register("alice").await;
    // A ghost with a device (an encrypting bridge's), so it can receive to-device messages.
    let (status, ghost) = as_call(
        &server,
        reqwest::Method::POST,
        "/_matrix/client/v3/register",
        json!({ "type": "m.login.application_service", "username": "bridge_bob" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{ghost}");
    let ghost_device = ghost["device_id"].as_str().expect("a device").to_owned();
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    let (status, joined) = as_call(
        &server,
        reqwest::Method::POST,
        &format!("/_matrix/client/v3/join/{room_id}?user_id=%40bridge_bob%3Alocalhost"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    let said = server.send_text(&alice, &room_id, "typing next").await;
    let (status, _) = server
        .put(
            &format!(
                "/_matrix/client/v3/rooms/{room_id}/typing/{}",
                alice.user_id
            ),
            Some(&alice.access_token),
            json!({ "typing": true, "timeout": 10000 }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/receipt/m.read/{said}"),
            Some(&alice.access_token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server
        .put(
            "/_matrix/client/v3/sendToDevice/m.room_key_request/td1",
            Some(&alice.access_token),
            json!({ "messages": { "@bridge_bob:localhost": { ghost_device.clone(): { "hello": "device" } } } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let to_device: Vec<Value> = bridge
            .transactions
            .lock()
            .expect("lock")
            .iter()
            .flat_map(|(_, body)| {
                body["de.sorunome.msc2409.to_device"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .collect();
        if to_device.iter().any(|message| {
            message["to_device_id"] == json!(ghost_device)
                && message["content"]["hello"] == "device"
                && message["sender"] == json!(alice.user_id)
        }) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no to-device message: {to_device:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    loop {
        let ephemeral = bridge.ephemeral();
        let typing = ephemeral.iter().any(|event| {
            event["type"] == "m.typing"
                && event["content"]["user_ids"]
                    .as_array()
                    .is_some_and(|users| users.contains(&json!(alice.user_id)))
        });
        let receipt = ephemeral.iter().any(|event| {
            event["type"] == "m.receipt"
                && event["content"][&said]["m.read"][&alice.user_id].is_object()
        });
        if typing && receipt {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "ephemeral events missing: {ephemeral:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn third_party_lookups_are_answered_by_the_bridge() {
    let bridge = Bridge::default();
    let (server, _dir) = server_with_bridge_and(&bridge, "protocols: [irc]\n").await;
    let alice = server.register("alice").await;
    let (status, protocols) = server
        .get(
            "/_matrix/client/v3/thirdparty/protocols",
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{protocols}");
    assert_eq!(protocols["irc"]["instances"][0]["network_id"], "loopnet");
    assert_eq!(protocols["irc"]["instances"][0]["instance_id"], "loopnet");
    let (status, protocol) = server
        .get(
            "/_matrix/client/v3/thirdparty/protocol/irc",
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(protocol["location_fields"], json!(["network", "channel"]));
    let missing = server
        .get(
            "/_matrix/client/v3/thirdparty/protocol/xmpp",
            Some(&alice.access_token),
        )
        .await;
    assert_error(&missing, StatusCode::NOT_FOUND, "M_NOT_FOUND");
    let (status, locations) = server
        .get(
            "/_matrix/client/v3/thirdparty/location/irc?channel=%23chat&network=loopnet",
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{locations}");
    assert_eq!(locations[0]["alias"], "#bridge_chat:localhost");
    assert_eq!(locations[0]["fields"]["channel"], "#chat");

    // The bridge lists a room in its network's directory, not in Matrix's.
    let (_, created) = as_call(
        &server,
        reqwest::Method::POST,
        "/_matrix/client/v3/createRoom",
        json!({ "name": "#chat on loopnet", "preset": "public_chat" }),
    )
    .await;
    let room_id = created["room_id"].as_str().expect("room").to_owned();
    let path = format!("/_matrix/client/v3/directory/list/appservice/loopnet/{room_id}");
    let refused = server
        .put(
            &path,
            Some(&alice.access_token),
            json!({ "visibility": "public" }),
        )
        .await;
    assert_error(&refused, StatusCode::FORBIDDEN, "M_FORBIDDEN");
    let (status, _) = as_call(
        &server,
        reqwest::Method::PUT,
        &path,
        json!({ "visibility": "public" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let listed = |body: Value| {
        let server = &server;
        let token = alice.access_token.clone();
        async move {
            let (_, page) = server
                .post("/_matrix/client/v3/publicRooms", Some(&token), body)
                .await;
            page["chunk"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|room| room["room_id"].as_str().map(str::to_owned))
                .collect::<Vec<_>>()
        }
    };
    assert!(
        !listed(json!({})).await.contains(&room_id),
        "not in Matrix's directory"
    );
    assert!(
        listed(json!({ "third_party_instance_id": "loopnet" }))
            .await
            .contains(&room_id)
    );
    assert!(
        listed(json!({ "include_all_networks": true }))
            .await
            .contains(&room_id)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn registrations_reload_without_a_restart() {
    let bridge = Bridge::default();
    let (server, dir) = server_with_bridge(&bridge).await;
    let first = dir.path().join("bridge.yaml");
    let second = dir.path().join("second.yaml");
    std::fs::write(
        &second,
        registration_text("second", "http://127.0.0.1:9", "second"),
    )
    .expect("write");
    let whoami = |token: &'static str| {
        let server = &server;
        async move {
            server
                .request(
                    reqwest::Method::GET,
                    "/_matrix/client/v3/account/whoami",
                    Some(token),
                    None,
                )
                .await
        }
    };
    assert_error(
        &whoami("as-second").await,
        StatusCode::UNAUTHORIZED,
        "M_UNKNOWN_TOKEN",
    );

    let (added, removed) = server
        .server()
        .reload_appservices(&[first.clone(), second.clone()])
        .await
        .expect("reloaded");
    assert_eq!((added, removed), (vec!["second".to_owned()], Vec::new()));
    let (status, me) = whoami("as-second").await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user_id"], "@secondbot:localhost");

    // A broken file changes nothing.
    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, "id: [").expect("write");
    assert!(
        server
            .server()
            .reload_appservices(&[first.clone(), broken])
            .await
            .is_err()
    );
    assert_eq!(whoami("as-second").await.0, StatusCode::OK);

    // Removing the first registration: its token stops working.
    let (_, removed) = server
        .server()
        .reload_appservices(&[second])
        .await
        .expect("reloaded");
    assert_eq!(removed, vec!["testbridge".to_owned()]);
    assert_error(
        &whoami(AS_TOKEN).await,
        StatusCode::UNAUTHORIZED,
        "M_UNKNOWN_TOKEN",
    );
}
