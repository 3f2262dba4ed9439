//! A peer down while a thousand events, to-device messages and a receipt pile up for it gets every
//! one of them, in order, once; backoff and catch-up show in the metrics.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use serde_json::json;

use crate::{
    common::{TestServer, TestUser, federated},
    scripted_peer::encode,
};

/// A value of the `/_myelin/metrics` text: the line `{series} <value>`.
async fn metric(server: &TestServer, series: &str) -> i64 {
    let (status, text) = server.get("/_myelin/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    text.as_str()
        .expect("metrics are text")
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{series} ")))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in the metrics"))
}

const FAILED_TRANSACTIONS: &str = "myelin_federation_transactions_sent_total{result=\"failed\"}";
const QUEUE_DEPTH: &str = "myelin_federation_queue_depth";
const BACKING_OFF: &str = "myelin_federation_destinations_backing_off";
const CATCH_UP: &str = "myelin_federation_catch_up_transactions_total";

/// Polls a metric of `server` until `check` accepts it (at most `seconds`); returns it.
async fn metric_until(
    server: &TestServer,
    series: &str,
    seconds: u64,
    check: impl Fn(i64) -> bool,
) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        let value = metric(server, series).await;
        if check(value) {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "{series} is still {value} after {seconds}s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The message bodies of a room as `user` pages through it backwards, returned oldest first.
async fn all_message_bodies(server: &TestServer, user: &TestUser, room_id: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    let mut from: Option<String> = None;
    loop {
        let mut path = format!(
            "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=500",
            encode(room_id)
        );
        if let Some(from) = &from {
            path.push_str(&format!("&from={}", encode(from)));
        }
        let (status, page) = server.get(&path, Some(&user.access_token)).await;
        assert_eq!(status, StatusCode::OK, "messages: {page}");
        let chunk = crate::common::message_bodies(&page["chunk"]);
        let empty = page["chunk"].as_array().is_none_or(Vec::is_empty);
        bodies.extend(chunk);
        match page["end"].as_str() {
            Some(end) if !empty => from = Some(end.to_owned()),
            _ => break,
        }
    }
    bodies.reverse();
    bodies
}

/// While the other server is down, everything for it waits in a durable queue (the sender's
/// failed transactions and the queue depth show it); once it is back it receives all 1000
/// messages, in the order sent, none twice, and the 20 to-device messages for its user, each
/// once, and the read receipt; the queue then empties.
#[tokio::test(flavor = "multi_thread")]
async fn a_peer_down_during_a_thousand_events_gets_them_all_in_order_once() {
    let (a, _) = TestServer::start_federated().await;
    let (mut b, b_port) = TestServer::start_federated().await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let room_id = a
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    let joined = b
        .post(
            &format!("/_matrix/client/v3/join/{room_id}?via={}", a.server_name()),
            Some(&bob.access_token),
            json!({}),
        )
        .await;
    assert_eq!(joined.0, StatusCode::OK, "{}", joined.1);
    // Whatever the join made A send B has been sent.
    metric_until(&a, QUEUE_DEPTH, 20, |depth| depth == 0).await;
    b.stop().await;

    let mut last = String::new();
    for index in 0..1000 {
        last = a.send_text(&alice, &room_id, &format!("m{index}")).await;
    }
    for index in 0..20 {
        let (status, answer) = a
            .put(
                &format!("/_matrix/client/v3/sendToDevice/m.test/crash-fanout-{index}"),
                Some(&alice.access_token),
                json!({ "messages": { bob.user_id.as_str(): { bob.device_id.as_str(): { "n": index } } } }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "sendToDevice: {answer}");
    }
    let (status, answer) = a
        .post(
            &format!(
                "/_matrix/client/v3/rooms/{room_id}/receipt/m.read/{}",
                encode(&last)
            ),
            Some(&alice.access_token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "receipt: {answer}");

    // A tried B and failed; everything for B waits: 1000 PDUs, 20 to-device EDUs, 1 receipt.
    metric_until(&a, FAILED_TRANSACTIONS, 20, |failed| failed > 0).await;
    metric_until(&a, QUEUE_DEPTH, 20, |depth| depth >= 1021).await;
    // The destination waits out a backoff.
    metric_until(&a, BACKING_OFF, 20, |backing_off| backing_off == 1).await;

    b.restart(|config| federated(config, b_port)).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let bodies = loop {
        let bodies = all_message_bodies(&b, &bob, &room_id).await;
        if bodies.len() >= 1000 || Instant::now() > deadline {
            break bodies;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let expected: Vec<String> = (0..1000).map(|index| format!("m{index}")).collect();
    assert_eq!(
        bodies, expected,
        "B's timeline: every message, in order, once"
    );

    // The to-device messages, each once.
    let mut received: HashMap<i64, usize> = HashMap::new();
    let mut since: Option<String> = None;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut quiet_rounds = 0;
    while quiet_rounds <= 3 {
        let sync = b.sync(&bob, since.as_deref(), 500).await;
        since = sync["next_batch"].as_str().map(str::to_owned);
        for event in sync["to_device"]["events"].as_array().into_iter().flatten() {
            if event["type"] == "m.test" {
                assert_eq!(event["sender"], json!(alice.user_id), "{event}");
                let n = event["content"]["n"].as_i64().expect("n");
                *received.entry(n).or_default() += 1;
            }
        }
        if received.len() == 20 {
            // A few more syncs, for duplicates that would come later.
            quiet_rounds += 1;
        }
        assert!(
            Instant::now() < deadline,
            "to-device messages received (n → times): {received:?}"
        );
    }
    let expected: HashMap<i64, usize> = (0..20).map(|n| (n, 1)).collect();
    assert_eq!(received, expected, "each to-device message once");

    // The queue is empty again.
    metric_until(&a, QUEUE_DEPTH, 10, |depth| depth == 0).await;
    // The queue caught up in several transactions after the failures, and nobody backs off.
    metric_until(&a, CATCH_UP, 10, |transactions| transactions >= 20).await;
    metric_until(&a, BACKING_OFF, 10, |backing_off| backing_off == 0).await;

    // Alice's read receipt on m999 reached Bob (it came in the last transaction, with the last
    // 50 messages).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let sync = b.sync(&bob, None, 0).await;
        let ephemeral = &sync["rooms"]["join"][&room_id]["ephemeral"]["events"];
        let seen = ephemeral.as_array().into_iter().flatten().any(|event| {
            event["type"] == "m.receipt"
                && event["content"][&last]["m.read"][&alice.user_id].is_object()
        });
        if seen {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Bob never sees Alice's read receipt on m999 ({last}); B's ephemeral events: {ephemeral}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
