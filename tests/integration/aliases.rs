//! Room aliases, canonical-alias checks and directory visibility.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{TestServer, assert_error};

#[tokio::test]
async fn aliases_resolve_join_and_are_checked() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room = server
        .create_room(
            &alice,
            json!({ "preset": "public_chat", "room_alias_name": "garden" }),
        )
        .await;
    let (status, resolved) = server
        .get(
            "/_matrix/client/v3/directory/room/%23garden:localhost",
            None,
        )
        .await;
    assert_eq!(
        (status, resolved["room_id"].as_str()),
        (StatusCode::OK, Some(room.as_str()))
    );
    assert_eq!(resolved["servers"], json!(["localhost"]));
    let (_, canonical) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.canonical_alias"),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(canonical["alias"], "#garden:localhost");

    let taken = server
        .post(
            "/_matrix/client/v3/createRoom",
            Some(&alice.access_token),
            json!({ "room_alias_name": "garden" }),
        )
        .await;
    assert_error(&taken, StatusCode::BAD_REQUEST, "M_ROOM_IN_USE");

    let (status, joined) = server
        .post(
            "/_matrix/client/v3/join/%23garden:localhost",
            Some(&bob.access_token),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, joined["room_id"].as_str()),
        (StatusCode::OK, Some(room.as_str()))
    );
    assert_error(
        &server
            .post(
                "/_matrix/client/v3/join/%23nowhere:localhost",
                Some(&bob.access_token),
                json!({}),
            )
            .await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );

    let other = server
        .create_room(&alice, json!({ "room_alias_name": "other" }))
        .await;
    let bad = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.canonical_alias/"),
            Some(&alice.access_token),
            json!({ "alias": "#other:localhost" }),
        )
        .await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "M_BAD_ALIAS");
    assert_eq!(
        server
            .put(
                "/_matrix/client/v3/directory/room/%23second:localhost",
                Some(&alice.access_token),
                json!({ "room_id": other })
            )
            .await
            .0,
        StatusCode::OK
    );
    let (_, aliases) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{other}/aliases"),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(
        aliases["aliases"],
        json!(["#other:localhost", "#second:localhost"])
    );

    assert_error(
        &server
            .request(
                Method::DELETE,
                "/_matrix/client/v3/directory/room/%23garden:localhost",
                Some(&bob.access_token),
                None,
            )
            .await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    assert_eq!(
        server
            .request(
                Method::DELETE,
                "/_matrix/client/v3/directory/room/%23garden:localhost",
                Some(&alice.access_token),
                None
            )
            .await
            .0,
        StatusCode::OK
    );
    assert_error(
        &server
            .get(
                "/_matrix/client/v3/directory/room/%23garden:localhost",
                None,
            )
            .await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );

    let (_, visibility) = server
        .get(
            &format!("/_matrix/client/v3/directory/list/room/{room}"),
            None,
        )
        .await;
    assert_eq!(
        visibility["visibility"], "private",
        "rooms are listed only when created with visibility public"
    );
    assert_error(
        &server
            .put(
                &format!("/_matrix/client/v3/directory/list/room/{room}"),
                Some(&bob.access_token),
                json!({ "visibility": "public" }),
            )
            .await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    assert_eq!(
        server
            .put(
                &format!("/_matrix/client/v3/directory/list/room/{room}"),
                Some(&alice.access_token),
                json!({ "visibility": "public" })
            )
            .await
            .0,
        StatusCode::OK
    );
    let (_, visibility) = server
        .get(
            &format!("/_matrix/client/v3/directory/list/room/{room}"),
            None,
        )
        .await;
    assert_eq!(visibility["visibility"], "public");
}
