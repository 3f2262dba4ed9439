//! The flood's ordinary users: registered at the pace the server allows, each long-polling
//! `/sync`, some sending on a schedule and some probing with `timeout=0` syncs.

use super::*;

/// Registers `localpart`, waiting out `M_LIMIT_EXCEEDED` as the server asks.
pub(super) async fn register_patiently(
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
pub(super) async fn long_poll(
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
pub(super) async fn send_loop(
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
pub(super) async fn probe_loop(
    user: Client,
    shared: Arc<Shared>,
    interval: Duration,
) -> Result<(), Error> {
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
