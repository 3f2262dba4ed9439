//! The user directory: members of one's rooms and of published rooms, found by name or id.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestServer, TestUser, assert_error};

async fn search(server: &TestServer, user: &TestUser, body: Value) -> Value {
    let (status, answer) = server
        .post(
            "/_matrix/client/v3/user_directory/search",
            Some(&user.access_token),
            body,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

fn found(answer: &Value) -> Vec<String> {
    answer["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|user| user["user_id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn members_of_shared_and_published_rooms_are_found_by_name_or_id() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let dave = server.register("dave").await;
    let (status, _) = server
        .put(
            &format!("/_matrix/client/v3/profile/{}/displayname", bob.user_id),
            Some(&bob.access_token),
            json!({ "displayname": "Bobby Tables" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let private = server
        .create_room(&alice, json!({ "invite": [bob.user_id] }))
        .await;
    assert_eq!(server.join(&bob, &private).await.0, StatusCode::OK);
    server
        .create_room(
            &carol,
            json!({ "preset": "public_chat", "visibility": "public" }),
        )
        .await;
    server.create_room(&dave, json!({})).await;

    let by_name = search(&server, &alice, json!({ "search_term": "tab" })).await;
    assert_eq!(found(&by_name), vec![bob.user_id.clone()], "{by_name}");
    assert_eq!(by_name["results"][0]["display_name"], "Bobby Tables");
    assert_eq!(by_name["limited"], false);
    let by_id = search(&server, &alice, json!({ "search_term": "bo" })).await;
    assert_eq!(found(&by_id), vec![bob.user_id.clone()]);
    // Carol is in a published room; Dave shares nothing with Alice and stays hidden.
    let public = search(&server, &alice, json!({ "search_term": "carol" })).await;
    assert_eq!(found(&public), vec![carol.user_id.clone()]);
    let hidden = search(&server, &alice, json!({ "search_term": "dave" })).await;
    assert_eq!(found(&hidden), Vec::<String>::new());
    // Everyone matches the server name: people Alice shares a room with come first.
    let everyone = search(
        &server,
        &alice,
        json!({ "search_term": "localhost", "limit": 1 }),
    )
    .await;
    assert_eq!(found(&everyone), vec![bob.user_id.clone()], "{everyone}");
    assert_eq!(everyone["limited"], true);
    let all = search(&server, &alice, json!({ "search_term": "localhost" })).await;
    assert_eq!(found(&all), [bob.user_id.clone(), carol.user_id.clone()]);

    let bad = server
        .post(
            "/_matrix/client/v3/user_directory/search",
            Some(&alice.access_token),
            json!({ "search_term": 42 }),
        )
        .await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "M_BAD_JSON");
}
