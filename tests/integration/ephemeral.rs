//! Typing notifications, read receipts and read markers, as seen through `/sync`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestServer, assert_error};

fn ephemeral<'a>(sync: &'a Value, room_id: &str, kind: &str) -> Option<&'a Value> {
    sync["rooms"]["join"][room_id]["ephemeral"]["events"]
        .as_array()?
        .iter()
        .find(|event| event["type"] == kind)
}

#[tokio::test]
async fn typing_reaches_others_and_expires_by_itself() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    server.join(&bob, &room_id).await;
    let since = server.sync(&bob, None, 0).await["next_batch"]
        .as_str()
        .expect("token")
        .to_owned();

    let path = format!(
        "/_matrix/client/v3/rooms/{room_id}/typing/{}",
        alice.user_id
    );
    let (status, _) = server
        .put(
            &path,
            Some(&alice.access_token),
            json!({ "typing": true, "timeout": 1500 }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let typing = server.sync(&bob, Some(&since), 5_000).await;
    let event = ephemeral(&typing, &room_id, "m.typing").expect("typing event");
    assert_eq!(event["content"]["user_ids"], json!([alice.user_id]));
    let after_typing = typing["next_batch"].as_str().expect("token").to_owned();

    // No stop request: the 1.5 s timeout ends it, and the long-poll wakes for that.
    let stopped = server.sync(&bob, Some(&after_typing), 20_000).await;
    let event = ephemeral(&stopped, &room_id, "m.typing").expect("typing stop event");
    assert_eq!(event["content"]["user_ids"], json!([]));

    let other = format!("/_matrix/client/v3/rooms/{room_id}/typing/{}", bob.user_id);
    assert_error(
        &server
            .put(
                &other,
                Some(&alice.access_token),
                json!({ "typing": true, "timeout": 1000 }),
            )
            .await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    let carol = server.register("carol").await;
    let outsider = format!(
        "/_matrix/client/v3/rooms/{room_id}/typing/{}",
        carol.user_id
    );
    assert_error(
        &server
            .put(
                &outsider,
                Some(&carol.access_token),
                json!({ "typing": true, "timeout": 1000 }),
            )
            .await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
}

#[tokio::test]
async fn receipts_are_shared_but_private_receipts_and_markers_stay_private() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    server.join(&bob, &room_id).await;
    let first = server.send_text(&alice, &room_id, "one").await;
    let second = server.send_text(&alice, &room_id, "two").await;
    let alice_since = server.sync(&alice, None, 0).await["next_batch"]
        .as_str()
        .expect("token")
        .to_owned();

    let (status, _) = server
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/receipt/m.read/{first}"),
            Some(&bob.access_token),
            json!({ "thread_id": "main" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/receipt/m.read.private/{second}"),
            Some(&bob.access_token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let body = json!({ "m.fully_read": second });
    assert_eq!(
        server
            .post(
                &format!("/_matrix/client/v3/rooms/{room_id}/read_markers"),
                Some(&bob.access_token),
                body
            )
            .await
            .0,
        StatusCode::OK
    );

    let seen_by_alice = server.sync(&alice, Some(&alice_since), 5_000).await;
    let receipt = ephemeral(&seen_by_alice, &room_id, "m.receipt").expect("receipt");
    assert_eq!(
        receipt["content"][&first]["m.read"][&bob.user_id]["thread_id"],
        "main"
    );
    assert!(
        receipt["content"][&first]["m.read"][&bob.user_id]["ts"]
            .as_u64()
            .is_some()
    );
    assert!(
        receipt["content"].get(&second).is_none(),
        "private receipts are not shown to others: {receipt}"
    );

    let bob_sync = server.sync(&bob, None, 0).await;
    let own = ephemeral(&bob_sync, &room_id, "m.receipt").expect("own receipts");
    assert!(
        own["content"][&second]["m.read.private"]
            .get(&bob.user_id)
            .is_some()
    );
    let markers = bob_sync["rooms"]["join"][&room_id]["account_data"]["events"]
        .as_array()
        .expect("account data")
        .clone();
    assert!(
        markers.iter().any(|event| event["type"] == "m.fully_read"
            && event["content"]["event_id"] == second.as_str())
    );

    let bogus = server
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/receipt/m.read/$nonexistent"),
            Some(&bob.access_token),
            json!({}),
        )
        .await;
    assert_error(&bogus, StatusCode::NOT_FOUND, "M_NOT_FOUND");
    let carol = server.register("carol").await;
    let outsider = server
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/receipt/m.read/{first}"),
            Some(&carol.access_token),
            json!({}),
        )
        .await;
    assert_error(&outsider, StatusCode::FORBIDDEN, "M_FORBIDDEN");
}
