//! Room upgrades: a new room naming its predecessor, state and aliases carried over, the old
//! room tombstoned and closed to ordinary members.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestServer, TestUser, assert_error};

async fn state_content(server: &TestServer, user: &TestUser, room: &str, kind: &str) -> Value {
    let (status, content) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/state/{kind}/"),
            Some(&user.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{kind}: {content}");
    content
}

async fn upgrade(
    server: &TestServer,
    user: &TestUser,
    room: &str,
    version: &str,
) -> (StatusCode, Value) {
    server
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/upgrade"),
            Some(&user.access_token),
            json!({ "new_version": version }),
        )
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upgrade_carries_state_and_aliases_and_tombstones_the_old_room() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let old = server
        .create_room(
            &alice,
            json!({
                "room_version": "10",
                "preset": "public_chat",
                "visibility": "public",
                "room_alias_name": "old",
                "name": "Old room",
                "topic": "what we talk about",
                "power_level_content_override": { "users": { alice.user_id.clone(): 100, bob.user_id.clone(): 50 } },
            }),
        )
        .await;
    assert_eq!(server.join(&bob, &old).await.0, StatusCode::OK);

    // Moderators cannot; unknown versions are refused.
    let refused = upgrade(&server, &bob, &old, "11").await;
    assert_error(&refused, StatusCode::FORBIDDEN, "M_FORBIDDEN");
    let unknown = upgrade(&server, &alice, &old, "999").await;
    assert_error(
        &unknown,
        StatusCode::BAD_REQUEST,
        "M_UNSUPPORTED_ROOM_VERSION",
    );

    let (status, answer) = upgrade(&server, &alice, &old, "11").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let new = answer["replacement_room"]
        .as_str()
        .expect("replacement_room")
        .to_owned();
    assert_ne!(new, old);

    let create = state_content(&server, &alice, &new, "m.room.create").await;
    assert_eq!(create["room_version"], "11");
    assert_eq!(create["predecessor"]["room_id"], old.as_str());
    assert_eq!(
        state_content(&server, &alice, &new, "m.room.name").await["name"],
        "Old room"
    );
    assert_eq!(
        state_content(&server, &alice, &new, "m.room.topic").await["topic"],
        "what we talk about"
    );
    assert_eq!(
        state_content(&server, &alice, &new, "m.room.join_rules").await["join_rule"],
        "public"
    );
    let levels = state_content(&server, &alice, &new, "m.room.power_levels").await;
    assert_eq!(levels["users"][&bob.user_id], 50, "{levels}");
    let alias = format!("#old:{}", server.server_name());
    assert_eq!(
        state_content(&server, &alice, &new, "m.room.canonical_alias").await["alias"],
        alias.as_str()
    );
    let (_, resolved) = server
        .get(
            &format!(
                "/_matrix/client/v3/directory/room/{}",
                alias.replace('#', "%23")
            ),
            None,
        )
        .await;
    assert_eq!(resolved["room_id"], new.as_str(), "{resolved}");
    let (_, listed) = server.get("/_matrix/client/v3/publicRooms", None).await;
    let listed: Vec<&str> = listed["chunk"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|room| room["room_id"].as_str())
        .collect();
    assert_eq!(listed, [new.as_str()]);

    // The old room points at the new one, and ordinary members can no longer speak there.
    let tombstone = state_content(&server, &alice, &old, "m.room.tombstone").await;
    assert_eq!(tombstone["replacement_room"], new.as_str());
    let old_levels = state_content(&server, &alice, &old, "m.room.power_levels").await;
    assert!(
        old_levels["events_default"].as_i64() >= Some(50),
        "{old_levels}"
    );
    assert!(old_levels["invite"].as_i64() >= Some(50));
    let carol = server.register("carol").await;
    assert_eq!(server.join(&carol, &old).await.0, StatusCode::OK);
    let (status, _) = server.send_text_result(&carol, &old, "hello?").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Onwards to a version 12 room: its creator is privileged by the create event, not listed.
    let (status, answer) = upgrade(&server, &alice, &new, "12").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let newest = answer["replacement_room"]
        .as_str()
        .expect("replacement_room")
        .to_owned();
    let create = state_content(&server, &alice, &newest, "m.room.create").await;
    assert_eq!(create["room_version"], "12");
    assert_eq!(create["predecessor"]["room_id"], new.as_str());
    let levels = state_content(&server, &alice, &newest, "m.room.power_levels").await;
    assert!(levels["users"].get(&alice.user_id).is_none(), "{levels}");
    assert_eq!(levels["users"][&bob.user_id], 50);
    server.send_text(&alice, &newest, "we moved").await;
}
