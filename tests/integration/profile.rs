//! Profiles.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{TestServer, assert_error};

#[tokio::test]
async fn users_edit_their_own_profile_and_everyone_can_read_it() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let base = format!("/_matrix/client/v3/profile/{}", alice.user_id);

    let (status, fresh) = server.get(&base, None).await;
    assert_eq!(
        (status, fresh.clone()),
        (StatusCode::OK, json!({ "displayname": "alice" })),
        "new accounts show their localpart"
    );

    assert_eq!(
        server
            .put(
                &format!("{base}/displayname"),
                Some(&alice.access_token),
                json!({ "displayname": "Alice A." })
            )
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        server
            .put(
                &format!("{base}/avatar_url"),
                Some(&alice.access_token),
                json!({ "avatar_url": "mxc://localhost/abc" })
            )
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        server
            .put(
                &format!("{base}/m.tz"),
                Some(&alice.access_token),
                json!({ "m.tz": "Europe/Berlin" })
            )
            .await
            .0,
        StatusCode::OK
    );

    let (_, profile) = server.get(&base, Some(&bob.access_token)).await;
    assert_eq!(
        profile,
        json!({ "displayname": "Alice A.", "avatar_url": "mxc://localhost/abc", "m.tz": "Europe/Berlin" })
    );
    let (status, name) = server.get(&format!("{base}/displayname"), None).await;
    assert_eq!(
        (status, name),
        (StatusCode::OK, json!({ "displayname": "Alice A." }))
    );

    let (status, _) = server
        .request(
            Method::DELETE,
            &format!("{base}/m.tz"),
            Some(&alice.access_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_error(
        &server.get(&format!("{base}/m.tz"), None).await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );

    let intrusion = server
        .put(
            &format!("{base}/displayname"),
            Some(&bob.access_token),
            json!({ "displayname": "Mallory" }),
        )
        .await;
    assert_error(&intrusion, StatusCode::FORBIDDEN, "M_FORBIDDEN");
    let (_, unchanged) = server.get(&format!("{base}/displayname"), None).await;
    assert_eq!(unchanged["displayname"], "Alice A.");
}

#[tokio::test]
async fn profile_refusals_have_the_right_errcodes() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let base = format!("/_matrix/client/v3/profile/{}", alice.user_id);
    assert_error(
        &server
            .get("/_matrix/client/v3/profile/@nobody:localhost", None)
            .await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
    assert_error(
        &server
            .put(
                &format!("{base}/displayname"),
                None,
                json!({ "displayname": "x" }),
            )
            .await,
        StatusCode::UNAUTHORIZED,
        "M_MISSING_TOKEN",
    );
    assert_error(
        &server
            .put(
                &format!("{base}/displayname"),
                Some(&alice.access_token),
                json!({ "displayname": 42 }),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "M_BAD_JSON",
    );
    let long_key = "k".repeat(300);
    assert_error(
        &server
            .put(
                &format!("{base}/{long_key}"),
                Some(&alice.access_token),
                json!({ long_key.clone(): "v" }),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "M_KEY_TOO_LARGE",
    );
    let big = "x".repeat(40_000);
    assert_eq!(
        server
            .put(
                &format!("{base}/org.example.a"),
                Some(&alice.access_token),
                json!({ "org.example.a": big })
            )
            .await
            .0,
        StatusCode::OK
    );
    assert_error(
        &server
            .put(
                &format!("{base}/org.example.b"),
                Some(&alice.access_token),
                json!({ "org.example.b": big }),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "M_PROFILE_TOO_LARGE",
    );
    assert_error(
        &server.get(&format!("{base}/org.example.b"), None).await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
}
