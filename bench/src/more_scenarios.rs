//! `initial-sync`, `join-storm`, `idle-memory` and `disk`.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::{
    client::Error,
    progress::Progress,
    scenarios::{register_users, send},
    stats::millis,
};

/// A new user in `rooms` new rooms (in creation order) with `history` messages each.
pub async fn user_in_rooms(
    http: &reqwest::Client,
    base: &str,
    prefix: &str,
    rooms: usize,
    history: usize,
) -> Result<(crate::client::Client, Vec<String>), Error> {
    let user = register_users(http, base, prefix, 1, 1).await?.remove(0);
    let progress = Progress::new("creating rooms", rooms);
    let mut room_ids = Vec::with_capacity(rooms);
    for room in 0..rooms {
        let room_id = user.create_room(false).await?;
        for message in 0..history {
            user.send_text(
                &room_id,
                &format!("h{room}-{message}"),
                "some history in this room",
            )
            .await?;
        }
        room_ids.push(room_id);
        progress.tick();
    }
    progress.finish();
    Ok((user, room_ids))
}

/// `initial-sync`: one user in `rooms` rooms with `history` messages each; times (median of
/// three) and sizes of an initial sync and of an incremental sync with nothing new.
pub async fn initial_sync(
    http: &reqwest::Client,
    base: &str,
    prefix: &str,
    rooms: usize,
    history: usize,
) -> Result<Value, Error> {
    let (user, _) = user_in_rooms(http, base, &format!("{prefix}i"), rooms, history).await?;
    let mut initial = Vec::new();
    let mut incremental = Vec::new();
    let (mut initial_bytes, mut incremental_bytes) = (0, 0);
    for round in 0..3 {
        // A filter that differs each round (and changes nothing) defeats response caches such as
        // Synapse's, which would otherwise answer the 2nd and 3rd identical request from memory.
        let filter = crate::client::encode(&format!(
            r#"{{"presence":{{"not_types":["bench.round.{round}"]}}}}"#
        ));
        let started = Instant::now();
        let (sync, bytes) = user
            .sync_with_query(None, 0, &format!("&filter={filter}"))
            .await?;
        initial.push(started.elapsed());
        initial_bytes = bytes;
        let since = sync["next_batch"]
            .as_str()
            .ok_or("no next_batch")?
            .to_owned();
        let started = Instant::now();
        let (_, bytes) = user.sync(Some(&since), 0).await?;
        incremental.push(started.elapsed());
        incremental_bytes = bytes;
    }
    initial.sort_unstable();
    incremental.sort_unstable();
    Ok(json!({
        "scenario": "initial-sync",
        "rooms": rooms,
        "history": history,
        "initial_ms": millis(initial[1]),
        "initial_bytes": initial_bytes,
        "incremental_ms": millis(incremental[1]),
        "incremental_bytes": incremental_bytes,
    }))
}

/// `join-storm`: `users` users join one public room at once; time until every join is
/// acknowledged and the room counts them all.
pub async fn join_storm(
    http: &reqwest::Client,
    base: &str,
    prefix: &str,
    users: usize,
) -> Result<Value, Error> {
    let mut everyone = register_users(http, base, &format!("{prefix}j"), users + 1, 16).await?;
    let creator = everyone.remove(0);
    let room_id = creator.create_room(true).await?;
    let started = Instant::now();
    let joins: Vec<_> = everyone
        .into_iter()
        .map(|client| {
            let room_id = room_id.clone();
            tokio::spawn(async move { client.join(&room_id).await })
        })
        .collect();
    for join in joins {
        join.await??;
    }
    let elapsed = started.elapsed();
    let members = creator.joined_member_count(&room_id).await?;
    Ok(json!({
        "scenario": "join-storm",
        "users": users,
        "seconds": elapsed.as_secs_f64(),
        "joins_per_second": users as f64 / elapsed.as_secs_f64(),
        "members_after": members,
    }))
}

/// Resident memory of a process, from `/proc` (kB → bytes).
pub fn resident_bytes(pid: u32) -> Option<u64> {
    proc_status_kb(pid, "VmRSS:")
}

/// Peak resident memory of a process.
pub fn peak_resident_bytes(pid: u32) -> Option<u64> {
    proc_status_kb(pid, "VmHWM:")
}

fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    line.split_whitespace()
        .nth(1)?
        .parse::<u64>()
        .ok()
        .map(|kb| kb * 1024)
}

/// CPU seconds (user + system) a process has used, from `/proc/{pid}/stat`.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // The kernel's USER_HZ is 100 on every Linux this runs on.
    Some(ticks as f64 / 100.0)
}

/// `idle-memory`: resident memory of the server with `users` users, each with an open long-poll.
pub async fn idle_memory(
    http: &reqwest::Client,
    base: &str,
    prefix: &str,
    users: usize,
    pid: u32,
) -> Result<Value, Error> {
    let before = resident_bytes(pid).ok_or("cannot read the server's memory (is --pid right?)")?;
    let clients = register_users(http, base, &format!("{prefix}m"), users, 16).await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut pollers = Vec::new();
    for client in clients {
        let mut stop = stop_rx.clone();
        pollers.push(tokio::spawn(async move {
            let (sync, _) = client.sync(None, 0).await?;
            let mut since = sync["next_batch"]
                .as_str()
                .ok_or("no next_batch")?
                .to_owned();
            loop {
                tokio::select! {
                    result = client.sync(Some(&since), 30_000) => {
                        let (sync, _) = result?;
                        since = sync["next_batch"].as_str().ok_or("no next_batch")?.to_owned();
                    }
                    _ = stop.wait_for(|stop| *stop) => return Ok::<_, Error>(()),
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let during = resident_bytes(pid).ok_or("cannot read the server's memory")?;
    let _ = stop_tx.send(true);
    for poller in pollers {
        poller.await??;
    }
    Ok(json!({
        "scenario": "idle-memory",
        "users": users,
        "rss_before_bytes": before,
        "rss_with_pollers_bytes": during,
        "rss_mb": during as f64 / 1_048_576.0,
    }))
}

/// Bytes under `path`, recursively.
pub fn directory_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.metadata() {
            Ok(metadata) if metadata.is_dir() => directory_size(&entry.path()),
            Ok(metadata) => metadata.len(),
            Err(_) => 0,
        })
        .sum()
}

/// `disk`: growth of the server's data directory per event stored by a `send` run.
pub async fn disk(
    http: &reqwest::Client,
    base: &str,
    prefix: &str,
    data_dir: &Path,
    users: usize,
    messages: usize,
) -> Result<Value, Error> {
    let before = directory_size(data_dir);
    let report = send(http, base, &format!("{prefix}d"), users, 10, messages).await?;
    // Let write-behind stores (SQLite's WAL, sled) settle before measuring.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = directory_size(data_dir);
    let events = report["events"].as_u64().unwrap_or(1).max(1);
    Ok(json!({
        "scenario": "disk",
        "events": events,
        "bytes_before": before,
        "bytes_after": after,
        "bytes_per_event": after.saturating_sub(before) as f64 / events as f64,
    }))
}
