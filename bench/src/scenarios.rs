//! The scenarios: `send` (throughput and latency of acknowledged sends) and `fanout` (delay from
//! one send to its delivery in many waiting long-polls).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::{
    client::{Client, Error, timeline_events},
    stats::{millis, summarize},
};

const PASSWORD: &str = "benchmark password";

/// Registers `count` users named `{prefix}{n}`, `parallel` at a time.
pub async fn register_users(
    http: &reqwest::Client,
    base: &str,
    prefix: &str,
    count: usize,
    parallel: usize,
) -> Result<Vec<Client>, Error> {
    let progress = crate::progress::Progress::new("registering users", count);
    let mut users = Vec::with_capacity(count);
    for chunk in (0..count).collect::<Vec<_>>().chunks(parallel.max(1)) {
        let tasks: Vec<_> = chunk
            .iter()
            .map(|index| {
                let (http, base, name) =
                    (http.clone(), base.to_owned(), format!("{prefix}{index}"));
                tokio::spawn(async move { Client::register(&http, &base, &name, PASSWORD).await })
            })
            .collect();
        for task in tasks {
            users.push(task.await??);
            progress.tick();
        }
    }
    progress.finish();
    Ok(users)
}

/// `send`: `users` users spread over `rooms` rooms each send `messages` messages as fast as the
/// server acknowledges them.
pub async fn send(
    http: &reqwest::Client,
    base: &str,
    prefix: &str,
    users: usize,
    rooms: usize,
    messages: usize,
) -> Result<Value, Error> {
    let senders = register_users(http, base, &format!("{prefix}s"), users, 16).await?;
    let mut room_ids = Vec::new();
    for room in 0..rooms.max(1) {
        room_ids.push(senders[room % senders.len()].create_room(true).await?);
    }
    for (index, sender) in senders.iter().enumerate() {
        sender.join(&room_ids[index % room_ids.len()]).await?;
    }
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(users * messages)));
    let started = Instant::now();
    let tasks: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(index, sender)| {
            let room_id = room_ids[index % room_ids.len()].clone();
            let latencies = Arc::clone(&latencies);
            tokio::spawn(async move {
                for message in 0..messages {
                    let sent = Instant::now();
                    sender
                        .send_text(
                            &room_id,
                            &format!("bench-{index}-{message}"),
                            "benchmark message",
                        )
                        .await?;
                    latencies.lock().await.push(sent.elapsed());
                }
                Ok::<_, Error>(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let elapsed = started.elapsed();
    let samples = std::mem::take(&mut *latencies.lock().await);
    let count = samples.len();
    let summary = summarize(samples).ok_or("no samples")?;
    Ok(json!({
        "scenario": "send",
        "users": users,
        "rooms": rooms,
        "events": count,
        "seconds": elapsed.as_secs_f64(),
        "events_per_second": count as f64 / elapsed.as_secs_f64(),
        "latency_ms": { "p50": millis(summary.p50), "p99": millis(summary.p99), "max": millis(summary.max) },
    }))
}

/// `fanout`: `clients` users long-poll `/sync` in one room while one user sends `messages`
/// messages; measures from the start of each send to its arrival at each client.
pub async fn fanout(
    http: &reqwest::Client,
    base: &str,
    prefix: &str,
    clients: usize,
    messages: usize,
) -> Result<Value, Error> {
    let mut everyone = register_users(http, base, &format!("{prefix}f"), clients + 1, 16).await?;
    let sender = everyone.remove(0);
    let room_id = sender.create_room(true).await?;
    for chunk in everyone.chunks(16) {
        let joins: Vec<_> = chunk
            .iter()
            .cloned()
            .map(|client| {
                let room_id = room_id.clone();
                tokio::spawn(async move { client.join(&room_id).await })
            })
            .collect();
        for join in joins {
            join.await??;
        }
    }
    let send_times: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; messages]));
    let delays = Arc::new(Mutex::new(Vec::with_capacity(clients * messages)));
    let mut waiters = Vec::with_capacity(clients);
    let finished = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    let mut ready = Vec::with_capacity(clients);
    for client in everyone {
        let (room_id, send_times, delays) = (
            room_id.clone(),
            Arc::clone(&send_times),
            Arc::clone(&delays),
        );
        let (finished, mut done) = (Arc::clone(&finished), done_rx.clone());
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        ready.push(ready_rx);
        waiters.push(tokio::spawn(async move {
            let (initial, _) = client.sync(None, 0).await?;
            let mut since = initial["next_batch"]
                .as_str()
                .ok_or("no next_batch")?
                .to_owned();
            let _ = ready_tx.send(());
            let mut received = 0;
            let deadline = Instant::now() + Duration::from_secs(120);
            while received < messages && Instant::now() < deadline {
                let (sync, _) = client.sync(Some(&since), 30_000).await?;
                let arrived = Instant::now();
                since = sync["next_batch"]
                    .as_str()
                    .ok_or("no next_batch")?
                    .to_owned();
                for event in timeline_events(&sync, &room_id) {
                    let Some(index) = event["content"]["body"]
                        .as_str()
                        .and_then(|body| body.strip_prefix("fanout "))
                        .and_then(|n| n.parse::<usize>().ok())
                    else {
                        continue;
                    };
                    if let Some(Some(sent)) = send_times.lock().await.get(index) {
                        delays
                            .lock()
                            .await
                            .push((index, arrived.duration_since(*sent)));
                        received += 1;
                    }
                }
            }
            // Stay connected until every client is done: a client hanging up early costs the
            // server (and this process) work while others still wait for their delivery.
            finished.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = done.wait_for(|done| *done).await;
            Ok::<_, Error>(received)
        }));
    }
    for ready in ready {
        let _ = ready.await;
    }
    // Give every client time to be parked in its long-poll before the first send.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for index in 0..messages {
        send_times.lock().await[index] = Some(Instant::now());
        sender
            .send_text(
                &room_id,
                &format!("fanout-{index}"),
                &format!("fanout {index}"),
            )
            .await?;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while finished.load(std::sync::atomic::Ordering::SeqCst) < clients && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = done_tx.send(true);
    let mut delivered = 0;
    for waiter in waiters {
        delivered += waiter.await??;
    }
    let samples: Vec<(usize, Duration)> = std::mem::take(&mut *delays.lock().await);
    let per_message: Vec<Value> = (0..messages)
        .map(|index| {
            let summary = summarize(
                samples
                    .iter()
                    .filter(|(message, _)| *message == index)
                    .map(|(_, delay)| *delay)
                    .collect(),
            );
            summary.map_or(
                Value::Null,
                |summary| json!({ "p50": millis(summary.p50), "max": millis(summary.max) }),
            )
        })
        .collect();
    let summary =
        summarize(samples.into_iter().map(|(_, delay)| delay).collect()).ok_or("no deliveries")?;
    Ok(json!({
        "scenario": "fanout",
        "clients": clients,
        "messages": messages,
        "deliveries": delivered,
        "expected_deliveries": clients * messages,
        "delay_ms": { "p50": millis(summary.p50), "p99": millis(summary.p99), "max": millis(summary.max) },
        "per_message_delay_ms": per_message,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A short run of two scenarios against a real Myelin started in this process.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn short_runs_against_an_in_process_myelin() {
        let (_dir, server, http) =
            crate::test_server::start_myelin(|config| config.rate_limits.enabled = false).await;
        let base = server.client_url();

        let sent = send(&http, &base, "t", 4, 2, 5).await.expect("send runs");
        assert_eq!(sent["events"], 20);
        assert!(
            sent["events_per_second"]
                .as_f64()
                .is_some_and(|rate| rate > 0.0)
        );
        assert!(sent["latency_ms"]["p99"].as_f64() >= sent["latency_ms"]["p50"].as_f64());

        let fanned = fanout(&http, &base, "u", 5, 3).await.expect("fanout runs");
        assert_eq!(
            fanned["deliveries"], 15,
            "every client got every message: {fanned}"
        );
        server.shutdown().await;
    }
}
