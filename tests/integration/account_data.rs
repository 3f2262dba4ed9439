//! Account data and filters.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{TestServer, assert_error};

#[tokio::test]
async fn account_data_is_private_typed_and_survives_a_restart() {
    let mut server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let global = format!(
        "/_matrix/client/v3/user/{}/account_data/m.direct",
        alice.user_id
    );
    let room = format!(
        "/_matrix/client/v3/user/{}/rooms/!room:localhost/account_data/m.tag",
        alice.user_id
    );

    assert_error(
        &server.get(&global, Some(&alice.access_token)).await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
    let direct = json!({ "@bob:localhost": ["!dm:localhost"] });
    assert_eq!(
        server
            .put(&global, Some(&alice.access_token), direct.clone())
            .await
            .0,
        StatusCode::OK
    );
    let tags = json!({ "tags": { "m.favourite": { "order": 0.5 } } });
    assert_eq!(
        server
            .put(&room, Some(&alice.access_token), tags.clone())
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        server.get(&global, Some(&alice.access_token)).await,
        (StatusCode::OK, direct.clone())
    );

    assert_error(
        &server.get(&global, Some(&bob.access_token)).await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    assert_error(
        &server
            .put(&global, Some(&bob.access_token), json!({}))
            .await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );

    let fully_read = format!(
        "/_matrix/client/v3/user/{}/rooms/!room:localhost/account_data/m.fully_read",
        alice.user_id
    );
    assert_error(
        &server
            .put(
                &fully_read,
                Some(&alice.access_token),
                json!({ "event_id": "$x" }),
            )
            .await,
        StatusCode::METHOD_NOT_ALLOWED,
        "M_BAD_JSON",
    );
    assert_error(
        &server
            .put(&global, Some(&alice.access_token), json!([1, 2]))
            .await,
        StatusCode::BAD_REQUEST,
        "M_BAD_JSON",
    );
    let bad_room = format!(
        "/_matrix/client/v3/user/{}/rooms/not-a-room/account_data/m.tag",
        alice.user_id
    );
    assert_error(
        &server
            .put(&bad_room, Some(&alice.access_token), json!({}))
            .await,
        StatusCode::BAD_REQUEST,
        "M_INVALID_PARAM",
    );

    server.restart(|_| {}).await;
    assert_eq!(
        server.get(&global, Some(&alice.access_token)).await,
        (StatusCode::OK, direct),
        "tokens and data survive a restart"
    );
    assert_eq!(
        server.get(&room, Some(&alice.access_token)).await,
        (StatusCode::OK, tags)
    );
}

#[tokio::test]
async fn filters_round_trip_per_user() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let path = format!("/_matrix/client/v3/user/{}/filter", alice.user_id);
    let filter = json!({ "room": { "timeline": { "limit": 10 }, "state": { "lazy_load_members": true } }, "event_fields": ["type", "content.body"] });
    let (status, created) = server
        .post(&path, Some(&alice.access_token), filter.clone())
        .await;
    assert_eq!(status, StatusCode::OK);
    let first = created["filter_id"].as_str().expect("filter id").to_owned();
    let (_, second) = server
        .post(&path, Some(&alice.access_token), json!({}))
        .await;
    assert_ne!(second["filter_id"].as_str(), Some(first.as_str()));

    assert_eq!(
        server
            .get(&format!("{path}/{first}"), Some(&alice.access_token))
            .await,
        (StatusCode::OK, filter)
    );
    assert_error(
        &server
            .get(&format!("{path}/999"), Some(&alice.access_token))
            .await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
    assert_error(
        &server
            .get(&format!("{path}/{first}"), Some(&bob.access_token))
            .await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    assert_error(
        &server.post(&path, Some(&bob.access_token), json!({})).await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    assert_error(
        &server
            .post(
                &path,
                Some(&alice.access_token),
                json!({ "room": { "timeline": { "limit": "ten" } } }),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "M_BAD_JSON",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn room_tags_are_set_listed_removed_and_synced_as_m_tag() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room = server.create_room(&alice, json!({})).await;
    let tags_path = format!(
        "/_matrix/client/v3/user/{}/rooms/{room}/tags",
        alice.user_id
    );
    let since = server.sync(&alice, None, 0).await["next_batch"]
        .as_str()
        .expect("token")
        .to_owned();
    for (tag, body) in [
        ("m.favourite", json!({ "order": 0.25 })),
        ("u.work", json!({})),
    ] {
        let (status, answer) = server
            .put(
                &format!("{tags_path}/{tag}"),
                Some(&alice.access_token),
                body,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let (status, tags) = server.get(&tags_path, Some(&alice.access_token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        tags,
        json!({ "tags": { "m.favourite": { "order": 0.25 }, "u.work": {} } })
    );
    // Clients learn of tags from the room's `m.tag` account data in sync.
    let sync = server.sync(&alice, Some(&since), 0).await;
    let events = sync["rooms"]["join"][&room]["account_data"]["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let tag_event = events
        .iter()
        .find(|event| event["type"] == "m.tag")
        .unwrap_or_else(|| panic!("no m.tag in {sync}"));
    assert_eq!(tag_event["content"], tags);

    let (status, _) = server
        .request(
            reqwest::Method::DELETE,
            &format!("{tags_path}/m.favourite"),
            Some(&alice.access_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, tags) = server.get(&tags_path, Some(&alice.access_token)).await;
    assert_eq!(tags, json!({ "tags": { "u.work": {} } }));

    // Someone else's tags are not theirs to read or change; a bad order is refused.
    let (status, _) = server.get(&tags_path, Some(&bob.access_token)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let bad = server
        .put(
            &format!("{tags_path}/u.bad"),
            Some(&alice.access_token),
            json!({ "order": "first" }),
        )
        .await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "M_BAD_JSON");
    let (_, tags) = server.get(&tags_path, Some(&alice.access_token)).await;
    assert_eq!(tags, json!({ "tags": { "u.work": {} } }));
}

/// Tags set at the same time all stay: each change reads and writes `m.tag` as one step (under the
/// users' write lock, so an await between the read and the write could not lose a change).
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_tag_changes_are_all_kept() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let room = server.create_room(&alice, json!({})).await;
    let tags_path = format!(
        "/_matrix/client/v3/user/{}/rooms/{room}/tags",
        alice.user_id
    );
    let puts: Vec<_> = (0..20)
        .map(|n| {
            let client = crate::common::http_client();
            let url = format!("{}{tags_path}/u.tag{n}", server.url);
            let token = alice.access_token.clone();
            tokio::spawn(async move {
                client
                    .put(url)
                    .bearer_auth(token)
                    .json(&json!({ "order": 0.5 }))
                    .send()
                    .await
                    .expect("put")
                    .status()
            })
        })
        .collect();
    for put in puts {
        assert_eq!(put.await.expect("task"), StatusCode::OK);
    }
    let (_, tags) = server.get(&tags_path, Some(&alice.access_token)).await;
    let count = tags["tags"].as_object().map_or(0, serde_json::Map::len);
    assert_eq!(count, 20, "{tags}");
}
