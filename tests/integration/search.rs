//! `POST /search`: the caller's rooms only, every word matched as a word prefix, newest first,
//! paginated, with filters, context and state on request.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestServer, TestUser, assert_error};

async fn search(
    server: &TestServer,
    user: &TestUser,
    next: Option<&str>,
    room_events: Value,
) -> Value {
    let mut path = "/_matrix/client/v3/search".to_owned();
    if let Some(next) = next {
        path.push_str(&format!("?next_batch={next}"));
    }
    let (status, answer) = server
        .post(
            &path,
            Some(&user.access_token),
            json!({ "search_categories": { "room_events": room_events } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["search_categories"]["room_events"].clone()
}

fn bodies(found: &Value) -> Vec<String> {
    found["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|result| {
            let content = &result["result"]["content"];
            content["body"]
                .as_str()
                .or(content["name"].as_str())
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_of_ones_rooms_are_found_newest_first_and_paginated() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let kitchen = server
        .create_room(
            &alice,
            json!({ "name": "Kitchen", "invite": [bob.user_id] }),
        )
        .await;
    assert_eq!(server.join(&bob, &kitchen).await.0, StatusCode::OK);
    let notes = server.create_room(&alice, json!({})).await;
    let elsewhere = server.create_room(&carol, json!({})).await;
    server
        .send_text(&alice, &kitchen, "the quick brown fox")
        .await;
    server.send_text(&bob, &kitchen, "lazy dog sleeps").await;
    server.send_text(&bob, &kitchen, "Quick thinking").await;
    server.send_text(&alice, &notes, "quick lunch").await;
    server.send_text(&carol, &elsewhere, "quick secret").await;

    let quick = search(&server, &alice, None, json!({ "search_term": "quick" })).await;
    assert_eq!(
        bodies(&quick),
        ["quick lunch", "Quick thinking", "the quick brown fox"],
        "{quick}"
    );
    assert_eq!(quick["count"], 3);
    assert_eq!(quick["highlights"], json!(["quick"]));
    assert_eq!(quick["results"][0]["result"]["room_id"], notes.as_str());
    assert!(quick.get("next_batch").is_none());
    // Every word must start a word of the text.
    let both = search(&server, &alice, None, json!({ "search_term": "QUI fo" })).await;
    assert_eq!(bodies(&both), ["the quick brown fox"]);
    let inside = search(&server, &alice, None, json!({ "search_term": "uick" })).await;
    assert_eq!(bodies(&inside), Vec::<String>::new());

    // Pages of two: the second continues where the first stopped.
    let first = search(
        &server,
        &alice,
        None,
        json!({ "search_term": "quick", "filter": { "limit": 2 } }),
    )
    .await;
    assert_eq!(bodies(&first), ["quick lunch", "Quick thinking"]);
    // The count is of every match, not of this page [Complement TestSearch].
    assert_eq!(first["count"], 3, "{first}");
    let next = first["next_batch"].as_str().expect("next_batch").to_owned();
    let second = search(
        &server,
        &alice,
        Some(&next),
        json!({ "search_term": "quick", "filter": { "limit": 2 } }),
    )
    .await;
    assert_eq!(bodies(&second), ["the quick brown fox"], "{second}");
    assert!(second.get("next_batch").is_none());

    // Room and sender filters, and the room name as a search key.
    let in_kitchen = search(
        &server,
        &alice,
        None,
        json!({ "search_term": "quick", "filter": { "rooms": [kitchen] } }),
    )
    .await;
    assert_eq!(
        bodies(&in_kitchen),
        ["Quick thinking", "the quick brown fox"]
    );
    let by_bob = search(
        &server,
        &alice,
        None,
        json!({ "search_term": "quick", "filter": { "senders": [bob.user_id] } }),
    )
    .await;
    assert_eq!(bodies(&by_bob), ["Quick thinking"]);
    let named = search(
        &server,
        &alice,
        None,
        json!({ "search_term": "kitchen", "keys": ["content.name"] }),
    )
    .await;
    assert_eq!(bodies(&named), ["Kitchen"]);

    // Context: the neighbours of each result and their senders' profiles; the rooms' state.
    let with_context = search(
        &server,
        &alice,
        None,
        json!({
            "search_term": "thinking",
            "event_context": { "before_limit": 1, "after_limit": 1, "include_profile": true },
            "include_state": true,
        }),
    )
    .await;
    let context = &with_context["results"][0]["context"];
    assert_eq!(
        crate::common::message_bodies(&context["events_before"]),
        ["lazy dog sleeps"],
        "{context}"
    );
    assert_eq!(context["events_after"], json!([]));
    assert!(
        context["profile_info"][&bob.user_id].is_object(),
        "{context}"
    );
    let state = with_context["state"][&kitchen].as_array().expect("state");
    assert!(state.iter().any(|event| event["type"] == "m.room.name"));

    // Carol's search sees only her room; a search without a term is malformed.
    let carols = search(&server, &carol, None, json!({ "search_term": "quick" })).await;
    assert_eq!(bodies(&carols), ["quick secret"]);
    let bad = server
        .post(
            "/_matrix/client/v3/search",
            Some(&alice.access_token),
            json!({ "search_categories": { "room_events": { "keys": ["content.body"] } } }),
        )
        .await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "M_BAD_JSON");
}
