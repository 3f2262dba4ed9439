//! `flood`: the other users' `/sync` latency while one address floods login and registration.
//!
//! N users in one room (registered before the flood, at whatever pace the server's registration
//! limit allows) each keep a `/sync` long-poll open; `senders` of them send a message every
//! `interval_ms`, and `probes` of them also make a `timeout=0` incremental `/sync` every
//! `interval_ms` (sends and probes are open loop: started on time whatever the server does). The
//! run has two phases of `seconds` each, 3 s apart: idle, then the same while a flooder fires
//! `rate` attempts a second, paced and open-loop, half `POST /login` with a wrong password for an
//! existing account, half `POST /register` with fresh usernames. Reported per phase: delivery
//! latency (start of the send to its arrival in another user's long-poll), the probes' `/sync`
//! request time, send time; and for the flood, every answer by status and errcode. What has not
//! arrived 30 s after the flood counts at the time waited (a lower bound), so a stalled server is
//! not judged on only what got through.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::{Value, json};

mod flooder;
mod users;

use self::{
    flooder::flooder,
    users::{long_poll, probe_loop, register_patiently, send_loop},
};
use crate::{
    client::{Client, Error, timeline_events},
    more_scenarios::cpu_seconds,
    stats::{millis, percentile},
};

const PASSWORD: &str = "benchmark password";
/// Phases: a short warm-up, the two measured phases with a gap between them, and the drain.
const WARMUP: u8 = 0;
const IDLE: u8 = 1;
const FLOOD: u8 = 2;
const DRAIN: u8 = 3;
/// Between idle and flood: lets the idle phase's last messages arrive before the flood starts.
const GAP: u8 = 4;
/// The flooder stops opening requests beyond this many in flight (counted as skipped), so an
/// overwhelmed server cannot exhaust this process's file descriptors.
const IN_FLIGHT_CAP: usize = 4000;
/// A flood request that takes longer than this is counted as a timeout.
const FLOOD_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub users: usize,
    pub senders: usize,
    pub probes: usize,
    pub interval_ms: u64,
    pub seconds: u64,
    pub rate: u64,
    pub pid: Option<u32>,
}

#[derive(Default)]
struct PhaseSamples {
    started: usize,
    delivery: Vec<Duration>,
    sync_request: Vec<Duration>,
    send: Vec<Duration>,
    sent: usize,
    send_errors: usize,
    long_poll_errors: usize,
    probe_errors: usize,
    /// Deliveries still missing at the end (counted in `delivery` at the time waited so far).
    undelivered: usize,
    /// Sends still unanswered at the end.
    unacknowledged_sends: usize,
    /// Probes still unanswered at the end (counted in `sync_request` at the time waited so far).
    unanswered_probes: usize,
    server_cpu_seconds: Option<f64>,
    /// Errors seen by the users' requests, by a short description.
    errors: BTreeMap<String, usize>,
}

impl PhaseSamples {
    fn error(&mut self, what: &str, error: &Error) {
        let mut text = error.to_string();
        if let Some(url) = text.find(" for url (") {
            text.truncate(url);
        }
        let mut source = error.source();
        while let Some(cause) = source {
            text.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        let mut key = format!("{what}: {text}");
        key.truncate(key.floor_char_boundary(200));
        if self.errors.len() < 20 || self.errors.contains_key(&key) {
            *self.errors.entry(key).or_default() += 1;
        }
    }
}

/// One message sent by a sender loop.
struct Message {
    started: Instant,
    phase: u8,
    /// `None` while the send is unanswered, then whether it succeeded.
    acknowledged: Option<bool>,
    delivered: usize,
}

struct Shared {
    phase: AtomicU8,
    sending: AtomicBool,
    running: AtomicBool,
    /// Every message by `(sender, sequence)`.
    messages: Mutex<HashMap<(usize, u64), Message>>,
    /// Probes not answered yet: their start and phase, by a serial number.
    probes_in_flight: Mutex<HashMap<u64, (Instant, u8)>>,
    probe_serial: AtomicU64,
    /// Idle and flood samples.
    phases: Mutex<[PhaseSamples; 2]>,
}

impl Shared {
    /// Adds to the samples of `phase`, until the run ends (then what is missing is censored).
    fn record(&self, phase: u8, update: impl FnOnce(&mut PhaseSamples)) {
        if !self.running.load(Ordering::SeqCst) {
            return;
        }
        if let Some(samples) = phase_samples(&mut lock(&self.phases), phase) {
            update(samples);
        }
    }

    fn phase(&self) -> u8 {
        self.phase.load(Ordering::SeqCst)
    }

    /// Whether every message of the measured phases that was not refused reached every receiver.
    fn all_delivered(&self, receivers: usize) -> bool {
        lock(&self.messages).values().all(|message| {
            !matches!(message.phase, IDLE | FLOOD)
                || message.acknowledged == Some(false)
                || message.delivered >= receivers
        })
    }

    /// Counts what is still missing as samples of the time waited so far (lower bounds), so a
    /// stalled server's percentiles are not computed over only what got through.
    fn censor_missing(&self, receivers: usize) {
        let now = Instant::now();
        let mut phases = lock(&self.phases);
        for message in lock(&self.messages).values() {
            let Some(samples) = phase_samples(&mut phases, message.phase) else {
                continue;
            };
            if message.acknowledged.is_none() {
                samples.unacknowledged_sends += 1;
            }
            if message.acknowledged == Some(false) {
                continue;
            }
            let missing = receivers.saturating_sub(message.delivered);
            samples.undelivered += missing;
            samples.delivery.extend(std::iter::repeat_n(
                now.duration_since(message.started),
                missing,
            ));
        }
        for (_, (started, phase)) in lock(&self.probes_in_flight).drain() {
            if let Some(samples) = phase_samples(&mut phases, phase) {
                samples.unanswered_probes += 1;
                samples.sync_request.push(now.duration_since(started));
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn phase_samples(phases: &mut [PhaseSamples; 2], phase: u8) -> Option<&mut PhaseSamples> {
    match phase {
        IDLE => Some(&mut phases[0]),
        FLOOD => Some(&mut phases[1]),
        _ => None,
    }
}

pub async fn flood(
    http: &reqwest::Client,
    base: &str,
    prefix: &str,
    options: Options,
) -> Result<Value, Error> {
    let users_count = options.users.max(2);
    let senders = options.senders.clamp(1, users_count);
    let probes = options.probes.min(users_count);
    let interval = Duration::from_millis(options.interval_ms.max(1));
    let phase_length = Duration::from_secs(options.seconds.max(1));

    // Setup, before any flood: the registration limit paces it (about 6 s a user on defaults).
    let progress = crate::progress::Progress::new("registering users", users_count + 1);
    let mut users = Vec::with_capacity(users_count);
    for index in 0..users_count {
        users.push(register_patiently(http, base, &format!("{prefix}u{index}")).await?);
        progress.tick();
    }
    let victim = format!("{prefix}victim");
    register_patiently(http, base, &victim).await?;
    progress.tick();
    progress.finish();
    let room_id = users[0].create_room(true).await?;
    for user in &users[1..] {
        user.join(&room_id).await?;
    }

    let shared = Arc::new(Shared {
        phase: AtomicU8::new(WARMUP),
        sending: AtomicBool::new(true),
        running: AtomicBool::new(true),
        messages: Mutex::new(HashMap::new()),
        probes_in_flight: Mutex::new(HashMap::new()),
        probe_serial: AtomicU64::new(0),
        phases: Mutex::new([PhaseSamples::default(), PhaseSamples::default()]),
    });

    // Every user long-polls.
    let mut tasks = Vec::new();
    let mut ready = Vec::new();
    for (index, user) in users.iter().cloned().enumerate() {
        let (shared, room_id) = (Arc::clone(&shared), room_id.clone());
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        ready.push(ready_rx);
        tasks.push(tokio::spawn(async move {
            long_poll(user, index, &room_id, &shared, ready_tx).await
        }));
    }
    for ready in ready {
        ready
            .await
            .map_err(|_| "a long-poll loop failed its initial sync")??;
    }
    for (index, user) in users.iter().cloned().enumerate().take(senders) {
        let (shared, room_id) = (Arc::clone(&shared), room_id.clone());
        tasks.push(tokio::spawn(async move {
            send_loop(user, index, room_id, shared, interval).await;
            Ok(())
        }));
    }
    for user in users.iter().rev().take(probes).cloned() {
        let shared = Arc::clone(&shared);
        tasks.push(tokio::spawn(async move {
            probe_loop(user, shared, interval).await
        }));
    }

    tokio::time::sleep(Duration::from_secs(3)).await;
    eprintln!("idle phase: {} s", phase_length.as_secs());
    let cpu_start = options.pid.and_then(cpu_seconds);
    shared.phase.store(IDLE, Ordering::SeqCst);
    tokio::time::sleep(phase_length).await;
    shared.phase.store(GAP, Ordering::SeqCst);
    let cpu_mid = options.pid.and_then(cpu_seconds);
    tokio::time::sleep(Duration::from_secs(3)).await;

    eprintln!(
        "flood phase: {} s at {} attempts/s",
        phase_length.as_secs(),
        options.rate
    );
    let cpu_flood = options.pid.and_then(cpu_seconds);
    shared.phase.store(FLOOD, Ordering::SeqCst);
    let mut cpu_end = None;
    // The flood phase ends when the last attempt is fired; its late answers come in the drain.
    let flood_report = flooder(base, prefix, &victim, options.rate, phase_length, || {
        cpu_end = options.pid.and_then(cpu_seconds);
        shared.phase.store(DRAIN, Ordering::SeqCst);
        shared.sending.store(false, Ordering::SeqCst);
    })
    .await?;

    // Let the last messages arrive; what has not by then is counted as waited so far.
    let receivers = users_count - 1;
    let drain_until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < drain_until && !shared.all_delivered(receivers) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shared.running.store(false, Ordering::SeqCst);
    shared.censor_missing(receivers);
    for task in &tasks {
        task.abort();
    }
    for task in tasks {
        match task.await {
            Ok(result) => result?,
            Err(error) if error.is_cancelled() => {}
            Err(error) => return Err(error.into()),
        }
    }

    let [mut idle, mut flooded] = std::mem::take(&mut *lock(&shared.phases));
    if let (Some(start), Some(mid), Some(flood), Some(end)) =
        (cpu_start, cpu_mid, cpu_flood, cpu_end)
    {
        idle.server_cpu_seconds = Some(mid - start);
        flooded.server_cpu_seconds = Some(end - flood);
    }
    let idle_json = phase_json(idle, receivers);
    let mut flood_json = phase_json(flooded, receivers);
    flood_json["attempts"] = flood_report;
    let ratio = |pointer: &str| -> Value {
        match (
            flood_json.pointer(pointer).and_then(Value::as_f64),
            idle_json.pointer(pointer).and_then(Value::as_f64),
        ) {
            (Some(flood), Some(idle)) if idle > 0.0 => json!(flood / idle),
            _ => Value::Null,
        }
    };
    let ratios = json!({
        "delivery_p50": ratio("/delivery_ms/p50"),
        "delivery_p95": ratio("/delivery_ms/p95"),
        "delivery_p99": ratio("/delivery_ms/p99"),
        "sync_request_p50": ratio("/sync_request_ms/p50"),
        "sync_request_p95": ratio("/sync_request_ms/p95"),
        "sync_request_p99": ratio("/sync_request_ms/p99"),
    });
    Ok(json!({
        "scenario": "flood",
        "users": users_count,
        "senders": senders,
        "probes": probes,
        "interval_ms": options.interval_ms,
        "phase_seconds": phase_length.as_secs(),
        "flood_rate": options.rate,
        "idle": idle_json,
        "flood": flood_json,
        "ratio_flood_over_idle": ratios,
    }))
}

fn phase_json(samples: PhaseSamples, receivers: usize) -> Value {
    let deliveries = samples.delivery.len() - samples.undelivered;
    json!({
        "messages_started": samples.started,
        "messages_sent": samples.sent,
        "deliveries": deliveries,
        "expected_deliveries": (samples.started - samples.send_errors) * receivers,
        "send_errors": samples.send_errors,
        "long_poll_errors": samples.long_poll_errors,
        "probe_errors": samples.probe_errors,
        "undelivered": samples.undelivered,
        "unacknowledged_sends": samples.unacknowledged_sends,
        "unanswered_probes": samples.unanswered_probes,
        "delivery_ms": distribution(samples.delivery),
        "sync_request_ms": distribution(samples.sync_request),
        "send_ms": distribution(samples.send),
        "server_cpu_seconds": samples.server_cpu_seconds,
        "errors": samples.errors,
    })
}

fn distribution(mut samples: Vec<Duration>) -> Value {
    samples.sort_unstable();
    let at = |rank: f64| percentile(&samples, rank).map(millis);
    json!({
        "count": samples.len(),
        "p50": at(50.0),
        "p95": at(95.0),
        "p99": at(99.0),
        "max": samples.last().copied().map(millis),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A short flood against a real Myelin with its default login and registration limits.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn short_flood_against_an_in_process_myelin() {
        let (_dir, server, http) = crate::test_server::start_myelin(|config| {
            // Setup registers 4 users: a burst that covers them keeps the test short.
            config.rate_limits.registration_per_ip.burst = 4;
            config.rate_limits.messages_per_user.per_second = 1000.0;
            config.rate_limits.messages_per_user.burst = 1000;
        })
        .await;
        let options = Options {
            users: 3,
            senders: 1,
            probes: 1,
            interval_ms: 100,
            seconds: 1,
            rate: 200,
            pid: None,
        };
        let report = flood(&http, &server.client_url(), "fl", options)
            .await
            .expect("flood runs");
        let attempts = &report["flood"]["attempts"];
        assert!(attempts["attempts"].as_u64() > Some(100), "{report:#}");
        assert!(
            attempts["limit_exceeded_429"].as_u64() > Some(90),
            "{report:#}"
        );
        assert_eq!(attempts["server_errors_5xx"], 0, "{report:#}");
        assert!(
            report["idle"]["deliveries"].as_u64() > Some(0),
            "{report:#}"
        );
        assert!(
            report["flood"]["deliveries"].as_u64() > Some(0),
            "{report:#}"
        );
        server.shutdown().await;
    }
}
