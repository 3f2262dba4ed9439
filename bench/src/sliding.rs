//! `sliding-sync`: what an Element X room list costs. One user in `rooms` rooms with history;
//! the room list's first request (a new session: the 20 most recent rooms with their latest
//! message and the state Element X asks for), an incremental request with nothing new, and one
//! after a message in the least recent room (which moves into range and is sent whole). The
//! same user's `/sync` initial sync, timed in the same run, is the baseline.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{client::Error, stats::millis};

/// The request matrix-rust-sdk's room list service makes (its `all_rooms` list, trimmed to a
/// first page of 20), with the extensions it enables.
fn room_list_request() -> Value {
    json!({
        "lists": { "all_rooms": {
            "ranges": [[0, 19]],
            "timeline_limit": 1,
            "required_state": [
                ["m.room.encryption", ""], ["m.room.member", "$LAZY"], ["m.room.member", "$ME"],
                ["m.room.name", ""], ["m.room.topic", ""], ["m.room.avatar", ""],
                ["m.room.canonical_alias", ""], ["m.room.power_levels", ""], ["m.room.join_rules", ""],
                ["m.room.create", ""], ["m.room.history_visibility", ""], ["m.room.tombstone", ""],
                ["m.room.pinned_events", ""],
            ],
        } },
        "extensions": {
            "to_device": { "enabled": true },
            "e2ee": { "enabled": true },
            "account_data": { "enabled": true },
            "receipts": { "enabled": true },
            "typing": { "enabled": true },
        },
    })
}

fn median(mut samples: Vec<Duration>) -> f64 {
    samples.sort_unstable();
    millis(samples[samples.len() / 2])
}

pub async fn sliding_sync(
    http: &reqwest::Client,
    base: &str,
    prefix: &str,
    rooms: usize,
    history: usize,
) -> Result<Value, Error> {
    let (user, room_ids) =
        crate::more_scenarios::user_in_rooms(http, base, &format!("{prefix}s"), rooms, history)
            .await?;
    let request = room_list_request();
    let (mut first, mut idle, mut moved, mut baseline) = (vec![], vec![], vec![], vec![]);
    let (mut first_bytes, mut baseline_bytes) = (0, 0);
    // The least recent rooms: the rooms were created in order, and each round bumps one.
    for (round, oldest) in room_ids.iter().take(3).enumerate() {
        let started = Instant::now();
        let (response, bytes) = user.sliding_sync(None, 0, &request).await?;
        first.push(started.elapsed());
        first_bytes = bytes;
        if response["rooms"]
            .as_object()
            .map_or(0, serde_json::Map::len)
            != 20.min(rooms)
        {
            return Err(format!("expected the first page of rooms: {response}").into());
        }
        let pos = response["pos"].as_str().ok_or("no pos")?.to_owned();
        let started = Instant::now();
        let (response, _) = user.sliding_sync(Some(&pos), 0, &request).await?;
        idle.push(started.elapsed());
        let pos = response["pos"].as_str().ok_or("no pos")?.to_owned();
        user.send_text(oldest, &format!("bump{round}"), "back to the top")
            .await?;
        let started = Instant::now();
        let (response, _) = user.sliding_sync(Some(&pos), 0, &request).await?;
        moved.push(started.elapsed());
        if response["rooms"].get(oldest.as_str()).is_none() {
            return Err(format!("the bumped room was not sent: {response}").into());
        }
        let filter = crate::client::encode(&format!(
            r#"{{"presence":{{"not_types":["bench.round.{round}"]}}}}"#
        ));
        let started = Instant::now();
        let (_, bytes) = user
            .sync_with_query(None, 0, &format!("&filter={filter}"))
            .await?;
        baseline.push(started.elapsed());
        baseline_bytes = bytes;
    }
    let (first_ms, baseline_ms) = (median(first), median(baseline));
    Ok(json!({
        "scenario": "sliding-sync",
        "rooms": rooms,
        "history": history,
        "first_page_ms": first_ms,
        "first_page_bytes": first_bytes,
        "idle_incremental_ms": median(idle),
        "room_moved_into_range_ms": median(moved),
        "baseline_initial_sync_ms": baseline_ms,
        "baseline_initial_sync_bytes": baseline_bytes,
        "first_page_vs_initial_sync": first_ms / baseline_ms,
    }))
}

/// How a waiting client syncs.
#[derive(Clone, Copy)]
enum Mode {
    Sync,
    Sliding,
}

/// Keeps long-polling (30 s) until aborted.
async fn keep_polling(user: crate::client::Client, mode: Mode) -> Result<(), Error> {
    let request = room_list_request();
    match mode {
        Mode::Sync => {
            let (sync, _) = user.sync(None, 0).await?;
            let mut since = sync["next_batch"]
                .as_str()
                .ok_or("no next_batch")?
                .to_owned();
            loop {
                let (sync, _) = user.sync(Some(&since), 30_000).await?;
                since = sync["next_batch"]
                    .as_str()
                    .ok_or("no next_batch")?
                    .to_owned();
            }
        }
        Mode::Sliding => {
            let (response, _) = user.sliding_sync(None, 0, &request).await?;
            let mut pos = response["pos"].as_str().ok_or("no pos")?.to_owned();
            loop {
                let (response, _) = user.sliding_sync(Some(&pos), 30_000, &request).await?;
                pos = response["pos"].as_str().ok_or("no pos")?.to_owned();
            }
        }
    }
}

/// `sliding-wakeups`: what unrelated traffic costs while `clients` users (each in `rooms`
/// rooms of their own) wait in long-polls: server CPU per message another user sends in a room
/// none of them is in, with everyone on `/sync` (the baseline) and then on sliding sync.
pub async fn wakeups(
    http: &reqwest::Client,
    base: &str,
    prefix: &str,
    clients: usize,
    rooms: usize,
    messages: usize,
    pid: u32,
) -> Result<Value, Error> {
    let mut users =
        crate::scenarios::register_users(http, base, &format!("{prefix}w"), clients + 1, 16)
            .await?;
    let sender = users.pop().ok_or("no sender")?;
    let noisy = sender.create_room(false).await?;
    for user in &users {
        for _ in 0..rooms {
            user.create_room(false).await?;
        }
    }
    let mut cpu_per_message = Vec::new();
    for (index, mode) in [Mode::Sync, Mode::Sliding].into_iter().enumerate() {
        let polls: Vec<_> = users
            .iter()
            .cloned()
            .map(|user| tokio::spawn(keep_polling(user, mode)))
            .collect();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let before = crate::more_scenarios::cpu_seconds(pid).ok_or("cannot read CPU time")?;
        for message in 0..messages {
            sender
                .send_text(&noisy, &format!("noise{index}-{message}"), "not for you")
                .await?;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = crate::more_scenarios::cpu_seconds(pid).ok_or("cannot read CPU time")?;
        for poll in polls {
            poll.abort();
        }
        cpu_per_message.push((after - before) * 1000.0 / messages as f64);
    }
    Ok(json!({
        "scenario": "sliding-wakeups",
        "clients": clients,
        "rooms_each": rooms,
        "messages": messages,
        "server_cpu_ms_per_message_sync": cpu_per_message[0],
        "server_cpu_ms_per_message_sliding": cpu_per_message[1],
        "sliding_vs_sync": cpu_per_message[1] / cpu_per_message[0],
    }))
}
