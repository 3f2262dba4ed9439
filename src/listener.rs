//! The client listener's connection handling: hostile or broken connections must not exhaust the
//! server. Headers must arrive within a timeout (which also ends idle keep-alive connections), a
//! stalled body fails the request, the number of connections is capped below the process's file
//! descriptor limit (the connection idle longest makes room for a new one), a connection that
//! ends with request bytes still unread lingers briefly so the client reads the answer instead of
//! a reset, and hyper's own bodiless parse-error answers (`414`, `431`, `400`) become Matrix JSON.
//!
//! HTTP/1.1 only, as Synapse: clients and reverse proxies speak it to a homeserver's client port.

use std::{
    collections::HashMap,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll, ready},
    time::{Duration, Instant},
};

use axum::{Router, extract::ConnectInfo};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use myelin_core::{config::ClientConfig, metrics::Metrics};
use tokio::{
    io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{Notify, watch},
    task::JoinSet,
};
use tower::ServiceExt as _;

/// How long a closing connection keeps reading (and discarding) what the client still sends.
const LINGER: Duration = Duration::from_secs(2);
/// What a closing connection reads at most while lingering.
const LINGER_BYTES: usize = 4 * 1024 * 1024;
/// How long in-flight requests get to finish once the server stops.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The limits a listener enforces, from `[client]`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
}

impl Limits {
    pub fn from_config(config: &ClientConfig) -> Self {
        Self {
            max_connections: connection_cap(config.max_connections, open_files_limit()),
            header_timeout: Duration::from_secs(config.header_timeout_secs.max(1)),
            body_timeout: Duration::from_secs(config.body_timeout_secs.max(1)),
        }
    }
}

/// The configured cap, kept a quarter of the descriptor limit (at most 1024) below that limit so
/// the store, logs and outbound requests always find a descriptor.
fn connection_cap(configured: usize, open_files: Option<u64>) -> usize {
    let Some(open_files) = open_files.and_then(|limit| usize::try_from(limit).ok()) else {
        return configured.max(1);
    };
    let headroom = (open_files / 4).min(1024);
    configured.min(open_files.saturating_sub(headroom)).max(1)
}

/// The soft `RLIMIT_NOFILE`, read from `/proc` (no `unsafe` for `getrlimit`); `None` elsewhere.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// One open connection, as the accept loop and its own watchdog see it.
struct Connection {
    /// The registry's epoch, for `last_active_ms`.
    epoch: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds since the registry's epoch at the last request start or end.
    last_active_ms: AtomicU64,
    close_when_idle: AtomicBool,
    wake: Notify,
}

impl Connection {
    fn epoch_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

struct Registry {
    epoch: Instant,
    next_id: AtomicU64,
    connections: Mutex<HashMap<u64, Arc<Connection>>>,
}

impl Registry {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn len(&self) -> usize {
        self.connections
            .lock()
            .map_or(0, |connections| connections.len())
    }

    fn add(&self) -> (u64, Arc<Connection>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let connection = Arc::new(Connection {
            epoch: self.epoch,
            in_flight: AtomicUsize::new(0),
            last_active_ms: AtomicU64::new(self.now_ms()),
            close_when_idle: AtomicBool::new(false),
            wake: Notify::new(),
        });
        if let Ok(mut connections) = self.connections.lock() {
            connections.insert(id, connection.clone());
        }
        (id, connection)
    }

    fn remove(&self, id: u64) {
        if let Ok(mut connections) = self.connections.lock() {
            connections.remove(&id);
        }
    }

    /// Asks the connection idle longest (no request in flight) to close; false when every
    /// connection is busy.
    fn evict_idlest(&self) -> bool {
        let Ok(connections) = self.connections.lock() else {
            return false;
        };
        let idlest = connections
            .values()
            .filter(|connection| {
                connection.in_flight.load(Ordering::Acquire) == 0
                    && !connection.close_when_idle.load(Ordering::Acquire)
            })
            .min_by_key(|connection| connection.last_active_ms.load(Ordering::Relaxed));
        match idlest {
            Some(connection) => {
                connection.close_when_idle.store(true, Ordering::Release);
                connection.wake.notify_one();
                true
            }
            None => false,
        }
    }

    fn close_all_when_idle(&self) {
        if let Ok(connections) = self.connections.lock() {
            for connection in connections.values() {
                connection.close_when_idle.store(true, Ordering::Release);
                connection.wake.notify_one();
            }
        }
    }
}

/// Serves `router` on `listener` until `stopped` turns true, then gives in-flight requests
/// [`SHUTDOWN_GRACE`] before dropping what is left.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    metrics: Arc<Metrics>,
    mut stopped: watch::Receiver<bool>,
) {
    let registry = Arc::new(Registry {
        epoch: Instant::now(),
        next_id: AtomicU64::new(0),
        connections: Mutex::new(HashMap::new()),
    });
    let mut tasks = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.wait_for(|stop| *stop) => break,
        };
        while tasks.try_join_next().is_some() {}
        let (stream, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors (or a connection reset before accept): wait a moment
                // rather than spin; the cap normally keeps this from happening.
                tracing::warn!(%error, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if registry.len() >= limits.max_connections {
            if !registry.evict_idlest() {
                tracing::debug!(%remote, "connection refused: every connection is busy");
                metrics
                    .listener
                    .connections_refused
                    .fetch_add(1, Ordering::Relaxed);
                drop(stream);
                continue;
            }
            metrics
                .listener
                .connections_evicted
                .fetch_add(1, Ordering::Relaxed);
        }
        if let Err(error) = stream.set_nodelay(true) {
            // Without TCP_NODELAY a response written in two pieces waits for the client's
            // delayed ACK: ~40 ms per small media response.
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
        let (id, connection) = registry.add();
        let registry = registry.clone();
        let router = router.clone();
        let metrics = metrics.clone();
        tasks.spawn(async move {
            metrics
                .listener
                .connections_open
                .fetch_add(1, Ordering::Relaxed);
            serve_connection(stream, remote, router, limits, connection, &metrics).await;
            registry.remove(id);
            metrics
                .listener
                .connections_open
                .fetch_sub(1, Ordering::Relaxed);
        });
    }
    drop(listener);
    registry.close_all_when_idle();
    let finished = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if finished.is_err() {
        tracing::warn!(
            remaining = tasks.len(),
            "requests still running after the shutdown grace period are cut off"
        );
        tasks.abort_all();
    }
}

async fn serve_connection(
    stream: TcpStream,
    remote: SocketAddr,
    router: Router,
    limits: Limits,
    connection: Arc<Connection>,
    metrics: &Arc<Metrics>,
) {
    let tracked = connection.clone();
    let metrics = metrics.clone();
    let body_timeout = limits.body_timeout;
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        let router = router.clone();
        let guard = InFlight::start(tracked.clone(), metrics.clone());
        request.extensions_mut().insert(ConnectInfo(remote));
        let request = request.map(|body| {
            axum::body::Body::new(tower_http::timeout::TimeoutBody::new(body_timeout, body))
        });
        async move {
            let response = router.oneshot(request).await?;
            // The request counts as in flight until its response body is sent.
            Ok::<_, std::convert::Infallible>(
                response.map(|body| axum::body::Body::new(GuardedBody { body, guard })),
            )
        }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let served = http
        .serve_connection(TokioIo::new(JsonParseErrors::new(stream)), service)
        .without_shutdown();
    let closed = async {
        loop {
            if connection.close_when_idle.load(Ordering::Acquire)
                && connection.in_flight.load(Ordering::Acquire) == 0
            {
                return;
            }
            // Woken by an eviction or shutdown; the timer catches a request ending meanwhile.
            let _ =
                tokio::time::timeout(Duration::from_millis(250), connection.wake.notified()).await;
        }
    };
    tokio::select! {
        parts = served => {
            if let Ok(parts) = parts {
                linger(parts.io.into_inner().into_inner()).await;
            }
        }
        () = closed => {}
    }
}

/// Closes our side and reads what the client still sends for a moment, so that a client still
/// sending a refused body reads the answer instead of a reset (what nginx calls lingering close).
async fn linger(mut stream: TcpStream) {
    let _ = stream.shutdown().await;
    let _ = tokio::time::timeout(LINGER, async {
        let mut buffer = vec![0u8; 64 * 1024];
        let mut read = 0usize;
        while read < LINGER_BYTES {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(count) => read += count,
            }
        }
    })
    .await;
}

/// Marks a request in flight on its connection until dropped (with its response body, or with
/// the request's future when the client goes away first).
struct InFlight(Arc<Connection>, Arc<Metrics>);

impl InFlight {
    fn start(connection: Arc<Connection>, metrics: Arc<Metrics>) -> Self {
        connection.in_flight.fetch_add(1, Ordering::AcqRel);
        connection
            .last_active_ms
            .store(connection.epoch_ms(), Ordering::Relaxed);
        metrics
            .listener
            .requests_in_flight
            .fetch_add(1, Ordering::Relaxed);
        Self(connection, metrics)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0
            .last_active_ms
            .store(self.0.epoch_ms(), Ordering::Relaxed);
        self.1
            .listener
            .requests_in_flight
            .fetch_sub(1, Ordering::Relaxed);
        self.0.wake.notify_one();
    }
}

/// A response body that keeps its request counted as in flight.
struct GuardedBody {
    body: axum::body::Body,
    #[allow(dead_code)] // held for its `Drop`
    guard: InFlight,
}

impl http_body::Body for GuardedBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(context)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The connection's socket, with hyper's bodiless answers to unparsable requests (`400`, `414`
/// URI too long, `431` headers too large) rewritten as Matrix JSON errors: every error a client
/// reads is `{errcode, error}`. Handlers never answer a 4xx without a body, so a bodiless 4xx
/// head can only be hyper's.
struct JsonParseErrors {
    stream: TcpStream,
    /// A rewritten answer being written: its bytes, how many are written, and the length of
    /// the original write it stands for.
    rewritten: Option<(Vec<u8>, usize, usize)>,
}

impl JsonParseErrors {
    fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            rewritten: None,
        }
    }

    fn into_inner(self) -> TcpStream {
        self.stream
    }
}

/// The JSON answer replacing hyper's bodiless parse-error answer in `written`, if it is one.
fn json_parse_error(written: &[u8]) -> Option<Vec<u8>> {
    let (status, reason, errcode, error) = if written.starts_with(b"HTTP/1.1 414 ") {
        (
            414,
            "URI Too Long",
            "M_TOO_LARGE",
            "The request URI is too long",
        )
    } else if written.starts_with(b"HTTP/1.1 431 ") {
        (
            431,
            "Request Header Fields Too Large",
            "M_TOO_LARGE",
            "The request headers are too large",
        )
    } else if written.starts_with(b"HTTP/1.1 400 ") {
        (
            400,
            "Bad Request",
            "M_UNRECOGNIZED",
            "The request is not valid HTTP",
        )
    } else {
        return None;
    };
    let head_end = written
        .windows(4)
        .position(|window| window == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&written[..head_end]).to_ascii_lowercase();
    if !head.contains("\r\ncontent-length: 0") || written.len() != head_end + 4 {
        return None;
    }
    let body = serde_json::json!({ "errcode": errcode, "error": error }).to_string();
    Some(
        format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

impl AsyncRead for JsonParseErrors {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(context, buffer)
    }
}

impl AsyncWrite for JsonParseErrors {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.rewritten.is_none()
            && let Some(answer) = json_parse_error(buffer)
        {
            this.rewritten = Some((answer, 0, buffer.len()));
        }
        if let Some((answer, written, stands_for)) = &mut this.rewritten {
            while *written < answer.len() {
                match ready!(Pin::new(&mut this.stream).poll_write(context, &answer[*written..])) {
                    Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                    Ok(count) => *written += count,
                    Err(error) => return Poll::Ready(Err(error)),
                }
            }
            let stands_for = *stands_for;
            this.rewritten = None;
            return Poll::Ready(Ok(stands_for));
        }
        Pin::new(&mut this.stream).poll_write(context, buffer)
    }

    fn poll_flush(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(context)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_keeps_descriptors_for_everything_else() {
        assert_eq!(connection_cap(8192, Some(20_000)), 8192);
        assert_eq!(connection_cap(100_000, Some(20_000)), 18_976);
        assert_eq!(connection_cap(8192, Some(1024)), 768);
        assert_eq!(connection_cap(8192, None), 8192);
        assert_eq!(connection_cap(0, Some(1024)), 1);
    }

    #[test]
    fn hypers_bodiless_parse_errors_become_json() {
        let answer = json_parse_error(
            b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\ndate: Sun, 06 Dec 2026 09:00:00 GMT\r\n\r\n",
        )
        .expect("rewritten");
        let answer = String::from_utf8(answer).expect("utf-8");
        assert!(answer.starts_with("HTTP/1.1 414 URI Too Long\r\n"));
        let body = answer.split("\r\n\r\n").nth(1).expect("body");
        let json: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(json["errcode"], "M_TOO_LARGE");
        // A handler's own answer (with a body) is left alone.
        assert!(
            json_parse_error(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}").is_none()
        );
        assert!(json_parse_error(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
    }
}
