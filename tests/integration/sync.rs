//! `/sync`: initial, incremental, long-poll, invites, leaves, account data, restarts.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{TestServer, message_bodies};

fn room<'a>(sync: &'a Value, section: &str, room_id: &str) -> &'a Value {
    &sync["rooms"][section][room_id]
}

#[tokio::test]
async fn initial_sync_has_rooms_state_and_a_limited_timeline() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let room_id = server.create_room(&alice, json!({ "name": "Busy" })).await;
    for index in 0..15 {
        server
            .send_text(&alice, &room_id, &format!("n{index}"))
            .await;
    }
    let sync = server.sync(&alice, None, 0).await;
    let joined = room(&sync, "join", &room_id);
    let timeline = &joined["timeline"];
    assert_eq!(timeline["limited"], true);
    assert_eq!(
        message_bodies(&timeline["events"]),
        (5..15).map(|index| format!("n{index}")).collect::<Vec<_>>()
    );
    let state_types: Vec<&str> = joined["state"]["events"]
        .as_array()
        .expect("state")
        .iter()
        .filter_map(|event| event["type"].as_str())
        .collect();
    for kind in [
        "m.room.create",
        "m.room.member",
        "m.room.power_levels",
        "m.room.name",
    ] {
        assert!(
            state_types.contains(&kind),
            "{kind} missing from state {state_types:?}"
        );
    }
    assert!(
        timeline["events"][0].get("room_id").is_none(),
        "sync events leave out room_id"
    );
    assert_eq!(joined["summary"]["m.joined_member_count"], 1);

    let prev_batch = timeline["prev_batch"].as_str().expect("prev_batch");
    let (_, older) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&from={prev_batch}&limit=5"),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(
        message_bodies(&older["chunk"]),
        ["n4", "n3", "n2", "n1", "n0"],
        "prev_batch continues exactly where the timeline starts"
    );
}

#[tokio::test]
async fn incremental_sync_returns_only_what_is_new_and_long_polls() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    server.join(&bob, &room_id).await;
    let first = server.sync(&bob, None, 0).await;
    let since = first["next_batch"].as_str().expect("next_batch").to_owned();

    let quiet = server.sync(&bob, Some(&since), 100).await;
    assert_eq!(
        quiet["rooms"]["join"],
        json!({}),
        "nothing happened: {quiet}"
    );
    assert_eq!(quiet["next_batch"], since.as_str());

    let sender = {
        let (url, alice) = (server.url.clone(), alice.clone());
        let room_id = room_id.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let path = format!("{url}/_matrix/client/v3/rooms/{room_id}/send/m.room.message/wake");
            crate::common::http_client()
                .put(path)
                .bearer_auth(&alice.access_token)
                .json(&json!({ "msgtype": "m.text", "body": "wake up" }))
                .send()
                .await
                .expect("send")
        })
    };
    // A 30 s long-poll that must come back with the message sent while it waited (a timeout
    // would come back empty).
    let woken = server.sync(&bob, Some(&since), 30_000).await;
    sender.await.expect("sender");
    let timeline = &room(&woken, "join", &room_id)["timeline"];
    assert_eq!(message_bodies(&timeline["events"]), ["wake up"]);
    assert_eq!(timeline["limited"], false);
    assert!(
        timeline["events"][0]["unsigned"]
            .get("transaction_id")
            .is_none(),
        "only the sending device sees the transaction id"
    );
    assert_ne!(woken["next_batch"], since.as_str());

    let alice_view = server.sync(&alice, Some(&since), 0).await;
    assert_eq!(
        room(&alice_view, "join", &room_id)["timeline"]["events"][0]["unsigned"]["transaction_id"],
        "wake"
    );
}

#[tokio::test]
async fn invites_leaves_and_forgotten_rooms_move_between_sections() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let bob_start = server.sync(&bob, None, 0).await["next_batch"]
        .as_str()
        .expect("token")
        .to_owned();
    let room_id = server
        .create_room(
            &alice,
            json!({ "name": "Secret", "invite": [bob.user_id], "is_direct": true }),
        )
        .await;

    let invited = server.sync(&bob, Some(&bob_start), 5_000).await;
    let stripped = room(&invited, "invite", &room_id)["invite_state"]["events"]
        .as_array()
        .expect("invite state")
        .clone();
    let has = |kind: &str, key: &str| {
        stripped
            .iter()
            .any(|event| event["type"] == kind && event["state_key"] == key)
    };
    assert!(has("m.room.name", "") && has("m.room.create", "") && has("m.room.join_rules", ""));
    let invite = stripped
        .iter()
        .find(|event| {
            event["type"] == "m.room.member" && event["state_key"] == bob.user_id.as_str()
        })
        .expect("invite event");
    assert_eq!(
        (
            invite["content"]["membership"].as_str(),
            invite["content"]["is_direct"].as_bool()
        ),
        (Some("invite"), Some(true))
    );
    assert!(
        has("m.room.member", &alice.user_id),
        "the inviter's membership is included"
    );
    let after_invite = invited["next_batch"].as_str().expect("token").to_owned();

    server.join(&bob, &room_id).await;
    server.send_text(&alice, &room_id, "welcome").await;
    let joined = server.sync(&bob, Some(&after_invite), 5_000).await;
    let joined_room = room(&joined, "join", &room_id);
    assert!(message_bodies(&joined_room["timeline"]["events"]).contains(&"welcome".to_owned()));
    let member_state = joined_room["state"]["events"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(
            joined_room["timeline"]["events"]
                .as_array()
                .into_iter()
                .flatten(),
        )
        .any(|event| event["type"] == "m.room.create");
    assert!(member_state, "a newly joined room comes with its state");
    assert!(joined["rooms"]["invite"].get(&room_id).is_none());
    let after_join = joined["next_batch"].as_str().expect("token").to_owned();

    server
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/leave"),
            Some(&bob.access_token),
            json!({}),
        )
        .await;
    server.send_text(&alice, &room_id, "after bob left").await;
    let left = server.sync(&bob, Some(&after_join), 5_000).await;
    let left_room = room(&left, "leave", &room_id);
    let last = left_room["timeline"]["events"]
        .as_array()
        .expect("timeline")
        .last()
        .expect("leave event")
        .clone();
    assert_eq!(
        (
            last["type"].as_str(),
            last["content"]["membership"].as_str()
        ),
        (Some("m.room.member"), Some("leave"))
    );
    assert!(
        !message_bodies(&left_room["timeline"]["events"]).contains(&"after bob left".to_owned()),
        "nothing after leaving"
    );
    let (_, history) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b"),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(
        message_bodies(&history["chunk"]),
        ["welcome"],
        "history stops where the user left"
    );

    let (status, _) = server
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/forget"),
            Some(&bob.access_token),
            json!({}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let fresh = server
        .get(
            "/_matrix/client/v3/sync?filter=%7B%22room%22%3A%7B%22include_leave%22%3Atrue%7D%7D",
            Some(&bob.access_token),
        )
        .await
        .1;
    assert!(
        fresh["rooms"]["leave"].get(&room_id).is_none(),
        "forgotten rooms are gone: {fresh}"
    );
}

#[tokio::test]
async fn account_data_changes_reach_incremental_sync() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let room_id = server.create_room(&alice, json!({})).await;
    let since = server.sync(&alice, None, 0).await["next_batch"]
        .as_str()
        .expect("token")
        .to_owned();
    let direct = json!({ "@bob:localhost": [room_id] });
    server
        .put(
            &format!(
                "/_matrix/client/v3/user/{}/account_data/m.direct",
                alice.user_id
            ),
            Some(&alice.access_token),
            direct.clone(),
        )
        .await;
    server
        .put(
            &format!(
                "/_matrix/client/v3/user/{}/rooms/{room_id}/account_data/m.tag",
                alice.user_id
            ),
            Some(&alice.access_token),
            json!({ "tags": { "u.work": {} } }),
        )
        .await;
    let sync = server.sync(&alice, Some(&since), 5_000).await;
    assert_eq!(
        sync["account_data"]["events"],
        json!([{ "type": "m.direct", "content": direct }])
    );
    assert_eq!(
        room(&sync, "join", &room_id)["account_data"]["events"],
        json!([{ "type": "m.tag", "content": { "tags": { "u.work": {} } } }])
    );
    let next = sync["next_batch"].as_str().expect("token");
    let quiet = server.sync(&alice, Some(next), 0).await;
    assert_eq!(quiet["account_data"]["events"], json!([]), "sent once");
}

#[tokio::test]
async fn rooms_and_positions_survive_a_restart() {
    let mut server = TestServer::start().await;
    let alice = server.register("alice").await;
    let room_id = server.create_room(&alice, json!({})).await;
    server.send_text(&alice, &room_id, "before").await;
    let since = server.sync(&alice, None, 0).await["next_batch"]
        .as_str()
        .expect("token")
        .to_owned();
    server.restart(|_| {}).await;
    server.send_text(&alice, &room_id, "after").await;
    let sync = server.sync(&alice, Some(&since), 5_000).await;
    assert_eq!(
        message_bodies(&room(&sync, "join", &room_id)["timeline"]["events"]),
        ["after"],
        "new positions continue after the old ones"
    );
}
