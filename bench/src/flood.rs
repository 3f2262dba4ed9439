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

/// What the flooder saw.
#[derive(Default)]
struct Tally {
    /// `kind` (`login`/`register`) to `"status errcode"` to count.
    outcomes: BTreeMap<&'static str, BTreeMap<String, u64>>,
    response_times: Vec<Duration>,
    limit_exceeded: u64,
    forbidden: u64,
    unauthorized: u64,
    ok: u64,
    server_errors: u64,
    other_status: u64,
    connection_errors: u64,
    timeouts: u64,
    other_errors: u64,
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

/// Registers `localpart`, waiting out `M_LIMIT_EXCEEDED` as the server asks.
async fn register_patiently(
    http: &reqwest::Client,
    base: &str,
    localpart: &str,
) -> Result<Client, Error> {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        match Client::register(http, base, localpart, PASSWORD).await {
            Ok(client) => return Ok(client),
            Err(error) => {
                let text = error.to_string();
                if !text.contains("HTTP 429") || Instant::now() > deadline {
                    return Err(error);
                }
                // The message is `register: HTTP 429 …: {body}`.
                let wait = text
                    .split_once(": {")
                    .and_then(|(_, body)| serde_json::from_str::<Value>(&format!("{{{body}")).ok())
                    .and_then(|body| body["retry_after_ms"].as_u64())
                    .unwrap_or(1000);
                tokio::time::sleep(Duration::from_millis(wait.min(30_000) + 50)).await;
            }
        }
    }
}

/// One user's `/sync` long-poll loop: records each message's arrival from another user.
async fn long_poll(
    user: Client,
    me: usize,
    room_id: &str,
    shared: &Shared,
    ready: tokio::sync::oneshot::Sender<Result<(), Error>>,
) -> Result<(), Error> {
    let mut since = match user.sync(None, 0).await {
        Ok((initial, _)) => match initial["next_batch"].as_str() {
            Some(since) => since.to_owned(),
            None => {
                let _ = ready.send(Err("no next_batch".into()));
                return Ok(());
            }
        },
        Err(error) => {
            let _ = ready.send(Err(error));
            return Ok(());
        }
    };
    let _ = ready.send(Ok(()));
    while shared.running.load(Ordering::SeqCst) {
        let sync = match user.sync(Some(&since), 30_000).await {
            Ok((sync, _)) => sync,
            Err(error) => {
                shared.record(shared.phase(), |samples| {
                    samples.long_poll_errors += 1;
                    samples.error("long-poll", &error);
                });
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
        };
        let arrived = Instant::now();
        if let Some(next) = sync["next_batch"].as_str() {
            since = next.to_owned();
        }
        for event in timeline_events(&sync, room_id) {
            let Some((sender, sequence)) = event["content"]["body"]
                .as_str()
                .and_then(|body| body.strip_prefix("flood "))
                .and_then(|rest| rest.split_once(' '))
                .and_then(|(sender, sequence)| {
                    Some((sender.parse().ok()?, sequence.parse().ok()?))
                })
            else {
                continue;
            };
            if sender == me {
                continue;
            }
            let sent = lock(&shared.messages)
                .get_mut(&(sender, sequence))
                .map(|message| {
                    message.delivered += 1;
                    (message.started, message.phase)
                });
            if let Some((started, phase)) = sent {
                shared.record(phase, |samples| {
                    samples.delivery.push(arrived.duration_since(started));
                });
            }
        }
    }
    Ok(())
}

/// Starts a send every `interval` whether or not the previous ones were answered (open loop,
/// so a stalled server shows as late deliveries rather than as fewer messages).
async fn send_loop(
    user: Client,
    me: usize,
    room_id: String,
    shared: Arc<Shared>,
    interval: Duration,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let nonce = rand::random::<u32>();
    let mut sequence = 0_u64;
    while shared.sending.load(Ordering::SeqCst) {
        ticker.tick().await;
        let phase = shared.phase();
        let started = Instant::now();
        shared.record(phase, |samples| samples.started += 1);
        lock(&shared.messages).insert(
            (me, sequence),
            Message {
                started,
                phase,
                acknowledged: None,
                delivered: 0,
            },
        );
        let (user, room_id, shared) = (user.clone(), room_id.clone(), Arc::clone(&shared));
        tokio::spawn(async move {
            let result = user
                .send_text(
                    &room_id,
                    &format!("flood-{nonce}-{me}-{sequence}"),
                    &format!("flood {me} {sequence}"),
                )
                .await;
            let took = started.elapsed();
            if let Some(message) = lock(&shared.messages).get_mut(&(me, sequence)) {
                message.acknowledged = Some(result.is_ok());
            }
            shared.record(phase, |samples| match result {
                Ok(_) => {
                    samples.sent += 1;
                    samples.send.push(took);
                }
                Err(error) => {
                    samples.send_errors += 1;
                    samples.error("send", &error);
                }
            });
        });
        sequence += 1;
    }
}

/// Starts an incremental `/sync` with `timeout=0` every `interval` from the latest `since`
/// (open loop too): the plain request time.
async fn probe_loop(user: Client, shared: Arc<Shared>, interval: Duration) -> Result<(), Error> {
    let (initial, _) = user.sync(None, 0).await?;
    let since = Arc::new(Mutex::new(
        initial["next_batch"]
            .as_str()
            .ok_or("no next_batch")?
            .to_owned(),
    ));
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while shared.running.load(Ordering::SeqCst) {
        ticker.tick().await;
        let phase = shared.phase();
        let started = Instant::now();
        let serial = shared.probe_serial.fetch_add(1, Ordering::SeqCst);
        lock(&shared.probes_in_flight).insert(serial, (started, phase));
        let (user, shared, since) = (user.clone(), Arc::clone(&shared), Arc::clone(&since));
        tokio::spawn(async move {
            let from = lock(&since).clone();
            let result = user.sync_with_query(Some(&from), 0, "").await;
            let took = started.elapsed();
            if lock(&shared.probes_in_flight).remove(&serial).is_none() {
                return; // Already counted as unanswered at the end.
            }
            match result {
                Ok((sync, _)) => {
                    if let Some(next) = sync["next_batch"].as_str() {
                        next.clone_into(&mut lock(&since));
                    }
                    shared.record(phase, |samples| samples.sync_request.push(took));
                }
                Err(error) => shared.record(phase, |samples| {
                    samples.probe_errors += 1;
                    samples.error("probe", &error);
                }),
            }
        });
    }
    Ok(())
}

/// Fires `rate` attempts a second for `length`, paced whatever the answers take, calls
/// `fired_all`, then waits for the answers (or their timeouts) and summarises them.
async fn flooder(
    base: &str,
    prefix: &str,
    victim: &str,
    rate: u64,
    length: Duration,
    fired_all: impl FnOnce(),
) -> Result<Value, Error> {
    let tally = Arc::new(Mutex::new(Tally::default()));
    // Its own connection pool, so the flood does not queue behind the users' connections here.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(IN_FLIGHT_CAP)
        .timeout(FLOOD_REQUEST_TIMEOUT)
        .build()?;
    let login_url = format!("{base}/_matrix/client/v3/login");
    let register_url = format!("{base}/_matrix/client/v3/register");
    let login_body = Arc::new(json!({
        "type": "m.login.password",
        "identifier": { "type": "m.id.user", "user": victim },
        "password": "not the password",
    }));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max_in_flight = Arc::new(AtomicUsize::new(0));
    let skipped = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut fired = 0_u64;
    let mut ticker = tokio::time::interval(Duration::from_millis(5));
    loop {
        ticker.tick().await;
        let elapsed = started.elapsed();
        if elapsed >= length {
            break;
        }
        let due = (elapsed.as_secs_f64() * rate as f64) as u64;
        while fired < due {
            let attempt = fired;
            fired += 1;
            if in_flight.load(Ordering::SeqCst) >= IN_FLIGHT_CAP {
                skipped.fetch_add(1, Ordering::SeqCst);
                continue;
            }
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            max_in_flight.fetch_max(now, Ordering::SeqCst);
            let (kind, request) = if attempt.is_multiple_of(2) {
                ("login", http.post(&login_url).json(&*login_body))
            } else {
                let body = json!({
                    "username": format!("{prefix}f{attempt}"),
                    "password": "flood password",
                    "auth": { "type": "m.login.dummy" },
                });
                ("register", http.post(&register_url).json(&body))
            };
            let (tally, in_flight) = (Arc::clone(&tally), Arc::clone(&in_flight));
            tokio::spawn(async move {
                let sent = Instant::now();
                let outcome = match request.send().await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let errcode = response
                            .json::<Value>()
                            .await
                            .ok()
                            .and_then(|body| body["errcode"].as_str().map(str::to_owned));
                        Ok((status, errcode))
                    }
                    Err(error) => Err(error),
                };
                let took = sent.elapsed();
                let mut tally = tally.lock().unwrap_or_else(PoisonError::into_inner);
                let key = match outcome {
                    Ok((status, errcode)) => {
                        tally.response_times.push(took);
                        match (status, errcode.as_deref()) {
                            (429, Some("M_LIMIT_EXCEEDED")) => tally.limit_exceeded += 1,
                            (403, _) => tally.forbidden += 1,
                            (401, _) => tally.unauthorized += 1,
                            (200, _) => tally.ok += 1,
                            (500..=599, _) => tally.server_errors += 1,
                            _ => tally.other_status += 1,
                        }
                        format!("{status} {}", errcode.unwrap_or_default())
                            .trim_end()
                            .to_owned()
                    }
                    Err(error) if error.is_timeout() => {
                        tally.timeouts += 1;
                        "timeout".to_owned()
                    }
                    Err(error) if error.is_connect() => {
                        tally.connection_errors += 1;
                        "connection error".to_owned()
                    }
                    Err(error) => {
                        tally.other_errors += 1;
                        format!("error: {error}")
                    }
                };
                *tally
                    .outcomes
                    .entry(kind)
                    .or_default()
                    .entry(key)
                    .or_default() += 1;
                drop(tally);
                in_flight.fetch_sub(1, Ordering::SeqCst);
            });
        }
    }
    let firing_seconds = started.elapsed().as_secs_f64();
    fired_all();
    let answers_by = Instant::now() + FLOOD_REQUEST_TIMEOUT + Duration::from_secs(2);
    while in_flight.load(Ordering::SeqCst) > 0 && Instant::now() < answers_by {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let tally = std::mem::take(&mut *tally.lock().unwrap_or_else(PoisonError::into_inner));
    let skipped = skipped.load(Ordering::SeqCst);
    Ok(json!({
        "attempts": fired,
        "sent": fired - skipped,
        "achieved_rate": (fired - skipped) as f64 / firing_seconds,
        "skipped_in_flight_cap": skipped,
        "max_in_flight": max_in_flight.load(Ordering::SeqCst),
        "unanswered_at_end": in_flight.load(Ordering::SeqCst),
        "limit_exceeded_429": tally.limit_exceeded,
        "forbidden_403": tally.forbidden,
        "unauthorized_401": tally.unauthorized,
        "ok_200": tally.ok,
        "server_errors_5xx": tally.server_errors,
        "other_status": tally.other_status,
        "connection_errors": tally.connection_errors,
        "timeouts": tally.timeouts,
        "other_errors": tally.other_errors,
        "response_ms": distribution(tally.response_times),
        "by_kind": tally.outcomes,
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
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = myelin_core::config::Config::default();
        config.server.data_dir = dir.path().to_path_buf();
        config.client.bind = "127.0.0.1:0".parse().expect("address");
        config.federation.enabled = false;
        config.registration.open = true;
        // Setup registers 4 users: a burst that covers them keeps the test short.
        config.rate_limits.registration_per_ip.burst = 4;
        config.rate_limits.messages_per_user.per_second = 1000.0;
        config.rate_limits.messages_per_user.burst = 1000;
        let server = myelin::RunningServer::start(config)
            .await
            .expect("server starts");
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::new();
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
