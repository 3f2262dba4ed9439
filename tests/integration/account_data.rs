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
