//! The flooder: `rate` login and registration attempts a second from one address, open-loop,
//! every answer tallied by status and errcode.

use super::*;

/// What the flooder saw.
#[derive(Default)]
pub(super) struct Tally {
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

/// Fires `rate` attempts a second for `length`, paced whatever the answers take, calls
/// `fired_all`, then waits for the answers (or their timeouts) and summarises them.
pub(super) async fn flooder(
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
