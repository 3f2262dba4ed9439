//! History visibility, world-readable peeking, and members at a point in time.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{TestServer, assert_error, message_bodies};

async fn room_with_visibility(
    server: &TestServer,
    creator: &crate::common::TestUser,
    visibility: &str,
) -> String {
    let state = json!([{ "type": "m.room.history_visibility", "content": { "history_visibility": visibility } }]);
    server
        .create_room(
            creator,
            json!({ "preset": "public_chat", "initial_state": state }),
        )
        .await
}

#[tokio::test]
async fn joined_and_invited_visibility_hide_what_came_before() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;

    let joined_only = room_with_visibility(&server, &alice, "joined").await;
    server.send_text(&alice, &joined_only, "before bob").await;
    server.join(&bob, &joined_only).await;
    server.send_text(&alice, &joined_only, "after bob").await;
    let (_, history) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{joined_only}/messages?dir=b&limit=50"),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(message_bodies(&history["chunk"]), ["after bob"]);
    let sync = server.sync(&bob, None, 0).await;
    assert_eq!(
        message_bodies(&sync["rooms"]["join"][&joined_only]["timeline"]["events"]),
        ["after bob"]
    );

    let invited = room_with_visibility(&server, &alice, "invited").await;
    server.send_text(&alice, &invited, "m1").await;
    server.invite(&alice, &invited, &bob).await;
    server.send_text(&alice, &invited, "m2").await;
    server.join(&bob, &invited).await;
    let (_, history) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{invited}/messages?dir=b&limit=50"),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(
        message_bodies(&history["chunk"]),
        ["m2"],
        "invited members see from their invite on"
    );

    let shared = room_with_visibility(&server, &alice, "shared").await;
    let early = server.send_text(&alice, &shared, "old news").await;
    server.join(&bob, &shared).await;
    let (status, event) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{shared}/event/{early}"),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(
        (status, event["content"]["body"].as_str()),
        (StatusCode::OK, Some("old news")),
        "shared history is visible to new members"
    );
    let hidden = server.send_text(&alice, &joined_only, "x").await;
    let (_, visible_later) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{joined_only}/event/{hidden}"),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(visible_later["content"]["body"], "x");
    let (_, first_page) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{joined_only}/messages?dir=f&limit=50"),
            Some(&bob.access_token),
        )
        .await;
    assert!(!message_bodies(&first_page["chunk"]).contains(&"before bob".to_owned()));
}

#[tokio::test]
async fn world_readable_rooms_can_be_read_without_joining() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let carol = server.register("carol").await;
    let open = room_with_visibility(&server, &alice, "world_readable").await;
    let event_id = server.send_text(&alice, &open, "for everyone").await;
    let (status, history) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{open}/messages?dir=b"),
            Some(&carol.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(message_bodies(&history["chunk"]), ["for everyone"]);
    assert_eq!(
        server
            .get(
                &format!("/_matrix/client/v3/rooms/{open}/event/{event_id}"),
                Some(&carol.access_token)
            )
            .await
            .0,
        StatusCode::OK
    );
    let closed = room_with_visibility(&server, &alice, "shared").await;
    assert_error(
        &server
            .get(
                &format!("/_matrix/client/v3/rooms/{closed}/messages?dir=b"),
                Some(&carol.access_token),
            )
            .await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
}

#[tokio::test]
async fn members_can_be_listed_as_of_a_token() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let room = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    server.join(&bob, &room).await;
    let token = server.sync(&alice, None, 0).await["next_batch"]
        .as_str()
        .expect("token")
        .to_owned();
    server.join(&carol, &room).await;
    server
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/leave"),
            Some(&bob.access_token),
            json!({}),
        )
        .await;

    let members = |value: &serde_json::Value| -> Vec<(String, String)> {
        let mut list: Vec<(String, String)> = value["chunk"]
            .as_array()
            .expect("chunk")
            .iter()
            .map(|event| {
                (
                    event["state_key"].as_str().unwrap_or_default().to_owned(),
                    event["content"]["membership"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .collect();
        list.sort();
        list
    };
    let (_, then) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/members?at={token}"),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(
        members(&then),
        [
            (alice.user_id.clone(), "join".to_owned()),
            (bob.user_id.clone(), "join".to_owned())
        ]
    );
    let (_, now) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/members"),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(
        members(&now),
        [
            (alice.user_id.clone(), "join".to_owned()),
            (bob.user_id.clone(), "leave".to_owned()),
            (carol.user_id.clone(), "join".to_owned())
        ]
    );
    let (status, bobs_view) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/members"),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a former member sees the members as of leaving"
    );
    assert_eq!(
        members(&bobs_view),
        [
            (alice.user_id.clone(), "join".to_owned()),
            (bob.user_id.clone(), "leave".to_owned()),
            (carol.user_id.clone(), "join".to_owned())
        ]
    );
}
