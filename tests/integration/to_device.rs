//! To-device messages: delivered once per device until acknowledged, `*` for every device,
//! idempotent per transaction, and across servers.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::TestServer;

fn to_device_events(sync: &Value) -> Vec<Value> {
    sync["to_device"]["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn to_device_messages_arrive_once_per_device_until_acknowledged() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let (_, second) = server.login("alice", crate::common::PASSWORD).await;
    let alice_phone = crate::common::user_from(&second);
    let bob = server.register("bob").await;

    // Alice's laptop waits in a long-poll; Bob's message to it ends the wait.
    let since = server.sync(&alice, None, 0).await["next_batch"]
        .as_str()
        .expect("token")
        .to_owned();
    let waiting = {
        let (url, token, since) = (
            server.url.clone(),
            alice.access_token.clone(),
            since.clone(),
        );
        tokio::spawn(async move {
            crate::common::http_client()
                .get(format!(
                    "{url}/_matrix/client/v3/sync?timeout=10000&since={since}"
                ))
                .bearer_auth(token)
                .send()
                .await
                .expect("sync")
                .json::<Value>()
                .await
                .expect("json")
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let messages = json!({ "messages": { alice.user_id.clone(): { alice.device_id.clone(): { "secret": "for the laptop" } } } });
    let path = "/_matrix/client/v3/sendToDevice/m.test/txn1";
    let (status, _) = server
        .put(path, Some(&bob.access_token), messages.clone())
        .await;
    assert_eq!(status, StatusCode::OK);
    // The same transaction again is not a second message.
    let (status, _) = server.put(path, Some(&bob.access_token), messages).await;
    assert_eq!(status, StatusCode::OK);
    let woken = waiting.await.expect("long-poll");
    let events = to_device_events(&woken);
    assert_eq!(
        events,
        [
            json!({ "sender": bob.user_id, "type": "m.test", "content": { "secret": "for the laptop" } })
        ]
    );

    // `*` reaches every device of the user.
    let everyone = json!({ "messages": { alice.user_id.clone(): { "*": { "hello": "all" } } } });
    let (status, _) = server
        .put(
            "/_matrix/client/v3/sendToDevice/m.test/txn2",
            Some(&bob.access_token),
            everyone,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let phone = server.sync(&alice_phone, None, 0).await;
    assert_eq!(
        to_device_events(&phone),
        [json!({ "sender": bob.user_id, "type": "m.test", "content": { "hello": "all" } })]
    );

    // Until acknowledged, a message comes again; syncing on from the token that carried it
    // deletes it.
    let next = woken["next_batch"].as_str().expect("token");
    let laptop = server.sync(&alice, Some(next), 0).await;
    assert_eq!(
        to_device_events(&laptop).len(),
        1,
        "only the broadcast is new: {laptop}"
    );
    let after = laptop["next_batch"].as_str().expect("token");
    let laptop = server.sync(&alice, Some(after), 0).await;
    assert!(to_device_events(&laptop).is_empty(), "{laptop}");
    let laptop = server.sync(&alice, Some(&since), 0).await;
    assert!(
        to_device_events(&laptop).is_empty(),
        "acknowledged messages are gone: {laptop}"
    );

    // Bad input changes nothing.
    let result = server
        .put(
            "/_matrix/client/v3/sendToDevice/m.test/txn3",
            Some(&bob.access_token),
            json!({ "messages": { alice.user_id.clone(): { "*": "not an object" } } }),
        )
        .await;
    assert_eq!(result.0, StatusCode::BAD_REQUEST, "{}", result.1);
    assert!(to_device_events(&server.sync(&alice_phone, None, 0).await).len() == 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn to_device_messages_cross_servers() {
    let (a, _) = TestServer::start_federated().await;
    let (b, _) = TestServer::start_federated().await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let messages = json!({ "messages": { bob.user_id.clone(): { bob.device_id.clone(): { "olm": "ciphertext" } } } });
    let path = "/_matrix/client/v3/sendToDevice/m.room.encrypted/cross1";
    let (status, body) = a
        .put(path, Some(&alice.access_token), messages.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A retried transaction is not sent twice.
    let (status, _) = a.put(path, Some(&alice.access_token), messages).await;
    assert_eq!(status, StatusCode::OK);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut since: Option<String> = None;
    let mut received = Vec::new();
    while received.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the message did not arrive"
        );
        let sync = b.sync(&bob, since.as_deref(), 1000).await;
        received = to_device_events(&sync);
        since = sync["next_batch"].as_str().map(str::to_owned);
    }
    assert_eq!(
        received,
        [
            json!({ "sender": alice.user_id, "type": "m.room.encrypted", "content": { "olm": "ciphertext" } })
        ]
    );
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let later = b.sync(&bob, since.as_deref(), 0).await;
    assert!(
        to_device_events(&later).is_empty(),
        "delivered once: {later}"
    );
}
