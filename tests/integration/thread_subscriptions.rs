//! Thread subscriptions (MSC4306) and their sliding sync extension (MSC4308).

use reqwest::StatusCode;
use serde_json::json;

use crate::{common::TestServer, current_clients::send};

/// Thread subscriptions (MSC4306) and their changes (MSC4308): subscribe by hand or
/// automatically (the event must be in the thread, and not older than an unsubscription),
/// unsubscribe, page the changes, and see them in the sliding sync extension matrix-rust-sdk
/// turns on [Complement tests/msc4306].
#[tokio::test]
async fn threads_can_be_subscribed_to() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let room_id = server.create_room(&alice, json!({})).await;
    let root = server.send_text(&alice, &room_id, "root").await;
    let reply = send(
        &server,
        &alice,
        &room_id,
        "m.room.message",
        json!({ "msgtype": "m.text", "body": "in thread", "m.relates_to": { "rel_type": "m.thread", "event_id": root } }),
    )
    .await;
    let elsewhere = server
        .send_text(&alice, &room_id, "not in the thread")
        .await;
    let path = format!(
        "/_matrix/client/unstable/io.element.msc4306/rooms/{room_id}/thread/{root}/subscription"
    );
    let token = Some(alice.access_token.as_str());
    assert_eq!(server.get(&path, token).await.0, StatusCode::NOT_FOUND);
    assert_eq!(server.put(&path, token, json!({})).await.0, StatusCode::OK);
    assert_eq!(
        server.get(&path, token).await.1,
        json!({ "automatic": false })
    );
    let (status, _) = server
        .request(reqwest::Method::DELETE, &path, token, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(server.get(&path, token).await.0, StatusCode::NOT_FOUND);
    // Automatic: the reply predates the unsubscription; another event is not in the thread.
    let (status, body) = server
        .put(&path, token, json!({ "automatic": reply }))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(
        body["errcode"],
        "IO.ELEMENT.MSC4306.M_CONFLICTING_UNSUBSCRIPTION"
    );
    let (status, body) = server
        .put(&path, token, json!({ "automatic": elsewhere }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errcode"], "IO.ELEMENT.MSC4306.M_NOT_IN_THREAD");
    let newer = send(
        &server,
        &alice,
        &room_id,
        "m.room.message",
        json!({ "msgtype": "m.text", "body": "again", "m.relates_to": { "rel_type": "m.thread", "event_id": root } }),
    )
    .await;
    assert_eq!(
        server
            .put(&path, token, json!({ "automatic": newer }))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        server.get(&path, token).await.1,
        json!({ "automatic": true })
    );

    // The changes, newest first; a second thread, then paging by one.
    let other_root = server.send_text(&alice, &room_id, "other root").await;
    let other = format!(
        "/_matrix/client/unstable/io.element.msc4306/rooms/{room_id}/thread/{other_root}/subscription"
    );
    assert_eq!(server.put(&other, token, json!({})).await.0, StatusCode::OK);
    let changes = "/_matrix/client/unstable/io.element.msc4308/thread_subscriptions?dir=b";
    let (_, all) = server.get(changes, token).await;
    assert_eq!(
        all["subscribed"][&room_id][&root]["automatic"], true,
        "{all}"
    );
    assert_eq!(
        all["subscribed"][&room_id][&other_root]["automatic"], false,
        "{all}"
    );
    let (_, first) = server.get(&format!("{changes}&limit=1"), token).await;
    assert!(
        first["subscribed"][&room_id].get(&other_root).is_some(),
        "{first}"
    );
    let end = first["end"].as_str().expect("end").to_owned();
    let (_, second) = server
        .get(&format!("{changes}&limit=1&from={end}"), token)
        .await;
    assert!(
        second["subscribed"][&room_id].get(&root).is_some(),
        "{second}"
    );

    // The sliding sync extension.
    let (status, sliding) = server
        .post(
            "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync",
            token,
            json!({ "extensions": { "io.element.msc4308.thread_subscriptions": { "enabled": true } } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{sliding}");
    let extension = &sliding["extensions"]["io.element.msc4308.thread_subscriptions"];
    assert_eq!(
        extension["subscribed"][&room_id][&root]["automatic"], true,
        "{sliding}"
    );
    let pos = sliding["pos"].as_str().expect("pos").to_owned();
    let (status, _) = server
        .request(reqwest::Method::DELETE, &other, token, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, next) = server
        .post(
            &format!("/_matrix/client/unstable/org.matrix.simplified_msc3575/sync?pos={pos}&timeout=0"),
            token,
            json!({ "extensions": { "io.element.msc4308.thread_subscriptions": { "enabled": true } } }),
        )
        .await;
    let extension = &next["extensions"]["io.element.msc4308.thread_subscriptions"];
    assert!(
        extension["unsubscribed"][&room_id]
            .get(&other_root)
            .is_some(),
        "{next}"
    );
    assert!(
        extension["subscribed"].get(&room_id).is_none(),
        "only what changed: {next}"
    );
}
