//! Simplified sliding sync (MSC4186): lists sorted by recency with ranges, rooms sent whole once
//! and then incrementally, invites, filters, subscriptions, extensions and `pos` handling.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestServer, TestUser, assert_error};

const PATH: &str = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync";

async fn sliding(
    server: &TestServer,
    user: &TestUser,
    pos: Option<&str>,
    timeout_ms: u64,
    body: &Value,
) -> Value {
    let (status, response) = sliding_result(server, user, pos, timeout_ms, body).await;
    assert_eq!(status, StatusCode::OK, "sliding sync: {response}");
    assert!(response["pos"].is_string(), "pos missing: {response}");
    response
}

async fn sliding_result(
    server: &TestServer,
    user: &TestUser,
    pos: Option<&str>,
    timeout_ms: u64,
    body: &Value,
) -> (StatusCode, Value) {
    let mut path = format!("{PATH}?timeout={timeout_ms}");
    if let Some(pos) = pos {
        path.push_str(&format!("&pos={pos}"));
    }
    server
        .post(&path, Some(&user.access_token), body.clone())
        .await
}

fn pos(response: &Value) -> String {
    response["pos"].as_str().expect("pos").to_owned()
}

fn room_ids(response: &Value) -> BTreeSet<String> {
    response["rooms"]
        .as_object()
        .map(|rooms| rooms.keys().cloned().collect())
        .unwrap_or_default()
}

fn bodies(room: &Value) -> Vec<String> {
    crate::common::message_bodies(&room["timeline"])
}

fn state_types(room: &Value) -> BTreeSet<String> {
    room["required_state"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|event| {
            format!(
                "{}|{}",
                event["type"].as_str().unwrap_or(""),
                event["state_key"].as_str().unwrap_or("")
            )
        })
        .collect()
}

async fn named_room(server: &TestServer, user: &TestUser, name: &str) -> String {
    server.create_room(user, json!({ "name": name })).await
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_sort_by_recency_and_rooms_come_whole_then_incrementally() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let alpha = named_room(&server, &alice, "Alpha").await;
    let beta = named_room(&server, &alice, "Beta").await;
    let gamma = named_room(&server, &alice, "Gamma").await;
    for (room, text) in [(&alpha, "a1"), (&beta, "b1"), (&gamma, "c1")] {
        server.send_text(&alice, room, text).await;
    }
    let body = json!({
        "lists": { "all": {
            "ranges": [[0, 1]],
            "timeline_limit": 1,
            "required_state": [["m.room.name", ""], ["m.room.member", "$ME"]],
        } },
    });

    // The two most recent rooms, whole: newest message, the state asked for, counts.
    let first = sliding(&server, &alice, None, 0, &body).await;
    assert_eq!(first["lists"]["all"]["count"], 3, "{first}");
    assert_eq!(
        room_ids(&first),
        BTreeSet::from([beta.clone(), gamma.clone()])
    );
    let room = &first["rooms"][&gamma];
    assert_eq!(room["initial"], true);
    assert_eq!(room["name"], "Gamma");
    assert_eq!(bodies(room), ["c1"]);
    assert_eq!(room["limited"], true);
    assert!(room["prev_batch"].is_string());
    assert_eq!(
        state_types(room),
        BTreeSet::from([
            "m.room.name|".to_owned(),
            format!("m.room.member|{}", alice.user_id)
        ])
    );
    assert_eq!(room["joined_count"], 1);
    assert_eq!(room["notification_count"], 0);
    let gamma_bump = room["bump_stamp"].as_u64().expect("bump_stamp");
    let beta_bump = first["rooms"][&beta]["bump_stamp"]
        .as_u64()
        .expect("bump_stamp");
    assert!(gamma_bump > beta_bump, "{gamma_bump} <= {beta_bump}");

    // A long-poll wakes for a message in Alpha, which moves into range and comes whole; Beta
    // drops out of range and Gamma has nothing new, so neither is sent.
    let waiting = {
        let (url, token, pos) = (server.url.clone(), alice.access_token.clone(), pos(&first));
        let body = body.clone();
        tokio::spawn(async move {
            crate::common::http_client()
                .post(format!("{url}{PATH}?timeout=10000&pos={pos}"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("sliding sync")
                .json::<Value>()
                .await
                .expect("json")
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    server.send_text(&alice, &alpha, "a2").await;
    let second = waiting.await.expect("long-poll");
    assert_eq!(
        room_ids(&second),
        BTreeSet::from([alpha.clone()]),
        "{second}"
    );
    assert_eq!(second["rooms"][&alpha]["initial"], true);
    assert_eq!(bodies(&second["rooms"][&alpha]), ["a2"]);
    assert_eq!(second["lists"]["all"]["count"], 3);

    // Gamma, already sent, gets only what is new, without state it already has.
    server.send_text(&alice, &gamma, "c2").await;
    let third = sliding(&server, &alice, Some(&pos(&second)), 5000, &body).await;
    assert_eq!(room_ids(&third), BTreeSet::from([gamma.clone()]), "{third}");
    let room = &third["rooms"][&gamma];
    assert!(room.get("initial").is_none(), "{room}");
    assert_eq!(bodies(room), ["c2"]);
    assert_eq!(room["limited"], false);
    assert_eq!(room["num_live"], 1);
    assert_eq!(state_types(room), BTreeSet::new());

    // A renamed room's new name reaches the client as state and as `name`.
    let (status, _) = server
        .put(
            &format!("/_matrix/client/v3/rooms/{gamma}/state/m.room.name/"),
            Some(&alice.access_token),
            json!({ "name": "Gamma two" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let fourth = sliding(&server, &alice, Some(&pos(&third)), 5000, &body).await;
    assert_eq!(fourth["rooms"][&gamma]["name"], "Gamma two", "{fourth}");
    assert!(state_types(&fourth["rooms"][&gamma]).contains("m.room.name|"));

    // Nothing new: the long-poll ends at its timeout with no rooms.
    let idle = sliding(&server, &alice, Some(&pos(&fourth)), 300, &body).await;
    assert_eq!(room_ids(&idle), BTreeSet::new(), "{idle}");

    // A retried request (its answer lost) starts from the same point and gets the same news.
    let retried = sliding(&server, &alice, Some(&pos(&third)), 0, &body).await;
    assert_eq!(retried["rooms"][&gamma]["name"], "Gamma two", "{retried}");

    // Asking for more is news by itself: with a longer timeline the rooms in range come whole
    // again at once, although nothing happened (a long-poll of a minute would fail the timeout).
    let mut longer = body.clone();
    longer["lists"]["all"]["timeline_limit"] = json!(2);
    let again = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        sliding(&server, &alice, Some(&pos(&idle)), 60_000, &longer),
    )
    .await
    .expect("answered without waiting for the long-poll");
    assert_eq!(
        room_ids(&again),
        BTreeSet::from([alpha.clone(), gamma.clone()]),
        "{again}"
    );
    assert_eq!(again["rooms"][&gamma]["initial"], true);
    assert_eq!(
        bodies(&again["rooms"][&gamma]),
        ["c2"],
        "the rename is the newest event"
    );
    assert_eq!(
        again["rooms"][&gamma]["timeline"].as_array().map(Vec::len),
        Some(2)
    );

    // Positions the server does not know are refused so the client starts over.
    let unknown = sliding_result(&server, &alice, Some("1_1"), 0, &body).await;
    assert_error(&unknown, StatusCode::BAD_REQUEST, "M_UNKNOWN_POS");
    let malformed = sliding_result(
        &server,
        &alice,
        None,
        0,
        &json!({ "lists": { "all": { "ranges": "everything", "timeline_limit": 1 } } }),
    )
    .await;
    assert_error(&malformed, StatusCode::BAD_REQUEST, "M_BAD_JSON");
    let backwards = sliding_result(
        &server,
        &alice,
        None,
        0,
        &json!({ "lists": { "all": { "ranges": [[5, 2]], "timeline_limit": 1 } } }),
    )
    .await;
    assert_error(&backwards, StatusCode::BAD_REQUEST, "M_BAD_JSON");
}

#[tokio::test(flavor = "multi_thread")]
async fn invites_filters_and_subscriptions() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let encrypted = server
        .create_room(
            &alice,
            json!({ "initial_state": [{ "type": "m.room.encryption", "state_key": "", "content": { "algorithm": "m.megolm.v1.aes-sha2" } }] }),
        )
        .await;
    let space = server
        .create_room(
            &alice,
            json!({ "name": "Space", "creation_content": { "type": "m.space" } }),
        )
        .await;
    let direct = server
        .create_room(
            &bob,
            json!({ "name": "Bob and Alice", "is_direct": true, "invite": [alice.user_id] }),
        )
        .await;
    let body = json!({
        "lists": {
            "invites": { "ranges": [[0, 9]], "timeline_limit": 5, "filters": { "is_invite": true } },
            "encrypted": { "ranges": [[0, 9]], "timeline_limit": 1, "filters": { "is_encrypted": true } },
            "dms": { "ranges": [[0, 9]], "timeline_limit": 1, "filters": { "is_dm": true } },
            "spaces": { "ranges": [[0, 0]], "timeline_limit": 1, "filters": { "room_types": ["m.space"] } },
            "rooms": { "ranges": [[0, 9]], "timeline_limit": 0, "filters": { "not_room_types": ["m.space"], "is_invite": false } },
        },
    });
    let first = sliding(&server, &alice, None, 0, &body).await;
    let lists = &first["lists"];
    assert_eq!(lists["invites"]["count"], 1, "{first}");
    assert_eq!(lists["encrypted"]["count"], 1);
    assert_eq!(lists["dms"]["count"], 1);
    assert_eq!(lists["spaces"]["count"], 1);
    assert_eq!(lists["rooms"]["count"], 1);
    assert_eq!(
        room_ids(&first),
        BTreeSet::from([encrypted.clone(), space.clone(), direct.clone()])
    );
    let invite = &first["rooms"][&direct];
    assert_eq!(invite["is_dm"], true);
    assert_eq!(invite["name"], "Bob and Alice");
    let stripped: Vec<&str> = invite["invite_state"]
        .as_array()
        .expect("invite_state")
        .iter()
        .filter_map(|event| event["type"].as_str())
        .collect();
    assert!(
        stripped.contains(&"m.room.name") && stripped.contains(&"m.room.member"),
        "{invite}"
    );
    assert!(invite.get("timeline").is_none());

    // Accepting the invite sends the room whole (with its timeline) and moves it between lists;
    // it stays a DM because the client records it in `m.direct`, as clients do.
    let (status, _) = server.join(&alice, &direct).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server
        .put(
            &format!(
                "/_matrix/client/v3/user/{}/account_data/m.direct",
                alice.user_id
            ),
            Some(&alice.access_token),
            json!({ bob.user_id.clone(): [direct] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let second = sliding(&server, &alice, Some(&pos(&first)), 5000, &body).await;
    assert_eq!(second["lists"]["invites"]["count"], 0, "{second}");
    assert_eq!(second["lists"]["rooms"]["count"], 2);
    let joined = &second["rooms"][&direct];
    assert_eq!(joined["initial"], true, "{second}");
    assert_eq!(joined["is_dm"], true);
    let members: Vec<&Value> = joined["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter(|event| {
            event["type"] == "m.room.member" && event["state_key"] == alice.user_id.as_str()
        })
        .collect();
    assert_eq!(members.len(), 1, "{joined}");
    assert_eq!(members[0]["content"]["membership"], "join");

    // A subscription brings a room outside every range, with its own settings.
    let subscribed = json!({
        "conn_id": "subscriptions",
        "lists": { "one": { "ranges": [[0, 0]], "timeline_limit": 0 } },
        "room_subscriptions": {
            encrypted.clone(): { "timeline_limit": 3, "required_state": [["m.room.encryption", ""]] },
            "!elsewhere:example.org": { "timeline_limit": 3 },
        },
    });
    let third = sliding(&server, &alice, None, 0, &subscribed).await;
    let room = &third["rooms"][&encrypted];
    assert_eq!(
        state_types(room),
        BTreeSet::from(["m.room.encryption|".to_owned()]),
        "{third}"
    );
    assert!(!room["timeline"].as_array().expect("timeline").is_empty());
    assert!(third["rooms"].get("!elsewhere:example.org").is_none());

    // Leaving is news: the room comes with the leave and stays out of later lists.
    let (status, _) = server
        .post(
            &format!("/_matrix/client/v3/rooms/{space}/leave"),
            Some(&alice.access_token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let fourth = sliding(&server, &alice, Some(&pos(&second)), 5000, &body).await;
    let left = &fourth["rooms"][&space];
    let last = left["timeline"]
        .as_array()
        .and_then(|events| events.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(last["content"]["membership"], "leave", "{fourth}");
    let fifth = sliding(&server, &alice, None, 0, &body).await;
    assert_eq!(fifth["lists"]["spaces"]["count"], 0, "{fifth}");
}

#[tokio::test(flavor = "multi_thread")]
async fn extensions_carry_to_device_keys_account_data_receipts_and_typing() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room = server
        .create_room(&alice, json!({ "invite": [bob.user_id] }))
        .await;
    let (status, _) = server.join(&bob, &room).await;
    assert_eq!(status, StatusCode::OK);
    let message = server.send_text(&bob, &room, "read me").await;
    let (status, _) = server
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/receipt/m.read/{message}"),
            Some(&bob.access_token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server
        .put(
            &format!(
                "/_matrix/client/v3/user/{}/account_data/org.example.setting",
                alice.user_id
            ),
            Some(&alice.access_token),
            json!({ "on": true }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let extensions = |to_device_since: Option<&str>| {
        let mut to_device = json!({ "enabled": true });
        if let Some(since) = to_device_since {
            to_device["since"] = since.into();
        }
        json!({
            "lists": { "all": {
                "ranges": [[0, 9]],
                "timeline_limit": 1,
                "required_state": [["m.room.member", "$LAZY"]],
            } },
            "extensions": {
                "to_device": to_device,
                "e2ee": { "enabled": true },
                "account_data": { "enabled": true },
                "receipts": { "enabled": true },
                "typing": { "enabled": true },
            },
        })
    };

    let first = sliding(&server, &alice, None, 0, &extensions(None)).await;
    assert_eq!(first["rooms"][&room]["notification_count"], 1, "{first}");
    // Lazy-loaded members: only the sender of the one timeline event.
    assert_eq!(
        state_types(&first["rooms"][&room]),
        BTreeSet::from([format!("m.room.member|{}", bob.user_id)]),
        "{first}"
    );
    let ext = &first["extensions"];
    assert!(
        ext["e2ee"]["device_one_time_keys_count"].is_object(),
        "{ext}"
    );
    assert!(ext["e2ee"]["device_unused_fallback_key_types"].is_array());
    let global = ext["account_data"]["global"].as_array().expect("global");
    assert!(
        global
            .iter()
            .any(|event| event["type"] == "org.example.setting" && event["content"]["on"] == true),
        "{ext}"
    );
    let receipt = &ext["receipts"]["rooms"][&room];
    assert_eq!(receipt["type"], "m.receipt", "{ext}");
    assert!(receipt["content"][&message]["m.read"][&bob.user_id]["ts"].is_u64());
    let to_device_token = ext["to_device"]["next_batch"]
        .as_str()
        .expect("next_batch")
        .to_owned();

    // Bob types and sends Alice a to-device message: both wake Alice's long-poll.
    let (status, _) = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/typing/{}", bob.user_id),
            Some(&bob.access_token),
            json!({ "typing": true, "timeout": 30000 }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let messages = json!({ "messages": { alice.user_id.clone(): { alice.device_id.clone(): { "secret": "for sliding sync" } } } });
    let (status, _) = server
        .put(
            "/_matrix/client/v3/sendToDevice/m.test/sliding1",
            Some(&bob.access_token),
            messages,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let second = sliding(
        &server,
        &alice,
        Some(&pos(&first)),
        5000,
        &extensions(Some(&to_device_token)),
    )
    .await;
    let ext = &second["extensions"];
    let events = ext["to_device"]["events"].as_array().expect("events");
    assert_eq!(events.len(), 1, "{ext}");
    assert_eq!(events[0]["content"]["secret"], "for sliding sync");
    assert_eq!(events[0]["sender"], bob.user_id.as_str());
    assert_eq!(
        ext["typing"]["rooms"][&room]["content"]["user_ids"],
        json!([bob.user_id]),
        "{ext}"
    );
    // Nothing already sent comes again: the receipt and the account data are not news.
    assert!(ext["receipts"]["rooms"].get(&room).is_none(), "{ext}");
    assert_eq!(ext["account_data"]["global"], json!([]));

    // Acknowledged with the next token, the to-device message is gone.
    let token = ext["to_device"]["next_batch"]
        .as_str()
        .expect("next_batch")
        .to_owned();
    let third = sliding(
        &server,
        &alice,
        Some(&pos(&second)),
        0,
        &extensions(Some(&token)),
    )
    .await;
    assert_eq!(
        third["extensions"]["to_device"]["events"],
        json!([]),
        "{third}"
    );
    // Alice reads the room on another device: the room comes again with its count cleared.
    let (status, _) = server
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/receipt/m.read/{message}"),
            Some(&alice.access_token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let read = sliding(
        &server,
        &alice,
        Some(&pos(&third)),
        5000,
        &extensions(Some(&token)),
    )
    .await;
    assert_eq!(read["rooms"][&room]["notification_count"], 0, "{read}");

    // A new session sees no to-device message either (acknowledged for the device).
    let fresh = sliding(&server, &alice, None, 0, &extensions(None)).await;
    assert_eq!(
        fresh["extensions"]["to_device"]["events"],
        json!([]),
        "{fresh}"
    );
}
