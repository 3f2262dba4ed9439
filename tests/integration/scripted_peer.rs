//! A scripted federation peer: a small Matrix server inside the test process that Myelin
//! federates with as with any other. It listens on 127.0.0.1 with TLS (a self-signed
//! certificate, which the servers of [`TestServer::start_federated`] accept), is named
//! `localhost:<port>`, signs with its own ed25519 key and serves its key document.
//!
//! For every request it receives it
//! - checks the `X-Matrix` signature as Complement's servers do, byte for byte against the
//!   request target as it came off the wire, with Myelin's published keys (and the signatures of
//!   PDUs sent to it); failures are kept in [`ScriptedPeer::signature_failures`]
//!   ([`ScriptedPeer::assert_every_request_verified`]);
//! - records method, target and body ([`ScriptedPeer::requests`]);
//! - leaves it unanswered while the test holds such requests ([`ScriptedPeer::hold`], until
//!   [`ScriptedPeer::release`]);
//! - answers from the scripts a test gave ([`ScriptedPeer::on`], newest first; a script may
//!   decline), else from what it knows: key document, `make_join`/`send_join` and `/send` for
//!   its rooms, `/event` (less [`ScriptedPeer::withhold`]), `state_ids`, `state`, `event_auth`,
//!   `get_missing_events`, `backfill`, `invite`, empty device lists and keys, else 404.
//!
//! It hosts rooms ([`ScriptedPeer::create_room`]) whose events it builds and signs
//! ([`ScriptedPeer::build_event`] leaves them out of the room's graph, [`ScriptedPeer::send_event`]
//! places them), lets Myelin's users join them ([`ScriptedPeer::join_from`]), and sends to
//! Myelin in signed transactions ([`ScriptedPeer::send_transaction`],
//! [`ScriptedPeer::signed_request`]).

mod corrupted_auth_chain;
mod outbound_signing;
mod requests;
mod room;
mod sending;
mod serve;
mod verify;

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::Router;
use myelin_core::lock;
use reqwest::Method;
use ruma::{
    OwnedServerName, RoomVersionId,
    signatures::{Ed25519KeyPair, PublicKeySet},
};
use serde_json::Value;
use tokio::sync::watch;

use self::room::{PeerRoom, Signer};
pub(crate) use self::{
    requests::{RecordedRequest, Reply, encode},
    room::{PeerEvent, StateMap},
};
use crate::common::{TestServer, TestUser};

/// A request whose signature (or one of whose PDUs' signatures) did not verify.
#[derive(Debug, Clone)]
pub(crate) struct SignatureFailure {
    pub method: Method,
    pub uri: String,
    pub body: String,
    pub reason: String,
}

type Script = dyn Fn(&RecordedRequest) -> Option<Reply> + Send + Sync;

struct Inner {
    server_name: OwnedServerName,
    key_pair: Ed25519KeyPair,
    requests: Mutex<Vec<RecordedRequest>>,
    failures: Mutex<Vec<SignatureFailure>>,
    scripts: Mutex<Vec<(Method, String, Arc<Script>)>>,
    rooms: Mutex<HashMap<String, PeerRoom>>,
    withheld: Mutex<HashSet<String>>,
    remote_keys: Mutex<HashMap<String, PublicKeySet>>,
    /// The `(method, pattern)`s of requests left unanswered for now ([`ScriptedPeer::hold`]).
    holds: watch::Sender<Vec<(Method, String)>>,
    http: reqwest::Client,
}

pub(crate) struct ScriptedPeer {
    inner: Arc<Inner>,
    handle: axum_server::Handle<SocketAddr>,
}

impl Drop for ScriptedPeer {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

impl ScriptedPeer {
    /// Starts listening on a free port of 127.0.0.1.
    pub(crate) async fn start() -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("non-blocking");
        let port = listener.local_addr().expect("address").port();
        let server_name = OwnedServerName::try_from(format!("localhost:{port}")).expect("name");
        let document = Ed25519KeyPair::generate();
        let key_pair = Ed25519KeyPair::from_der(&document, "scripted".to_owned()).expect("key");
        let inner = Arc::new(Inner {
            server_name,
            key_pair,
            requests: Mutex::default(),
            failures: Mutex::default(),
            scripts: Mutex::default(),
            rooms: Mutex::default(),
            withheld: Mutex::default(),
            remote_keys: Mutex::default(),
            holds: watch::Sender::new(Vec::new()),
            http: crate::federation_helpers::http(),
        });
        let certificate = rcgen::generate_simple_self_signed(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
        ])
        .expect("certificate");
        let tls = axum_server::tls_rustls::RustlsConfig::from_pem(
            certificate.cert.pem().into_bytes(),
            certificate.signing_key.serialize_pem().into_bytes(),
        )
        .await
        .expect("TLS configuration");
        let handle = axum_server::Handle::new();
        let server = axum_server::from_tcp_rustls(listener, tls)
            .expect("TLS listener")
            .handle(handle.clone());
        // One handler for every path: the peer records and checks requests it has no answer
        // for too, and scripts match on paths as Myelin sends them.
        let router = Router::new()
            .fallback(serve::handle_request)
            .with_state(Arc::clone(&inner));
        tokio::spawn(async move {
            let _ = server.serve(router.into_make_service()).await;
        });
        Self { inner, handle }
    }

    pub(crate) fn server_name(&self) -> &str {
        self.inner.server_name.as_str()
    }

    /// `@localpart:<peer>`.
    pub(crate) fn user_id(&self, localpart: &str) -> String {
        format!("@{localpart}:{}", self.server_name())
    }

    /// `user` of `server` joins a room the peer hosts, through the peer (`make_join`,
    /// `send_join`).
    pub(crate) async fn join_from(&self, server: &TestServer, user: &TestUser, room_id: &str) {
        let path = format!(
            "/_matrix/client/v3/join/{}?server_name={}",
            encode(room_id),
            encode(self.server_name())
        );
        let (status, body) = server
            .post(&path, Some(&user.access_token), serde_json::json!({}))
            .await;
        assert_eq!(status, reqwest::StatusCode::OK, "join {room_id}: {body}");
    }

    /// Every request received so far, oldest first.
    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.inner.requests).clone()
    }

    /// The requests received so far for `method` on paths like `pattern` (see
    /// [`RecordedRequest::matches`]).
    pub(crate) fn requests_to(&self, method: &Method, pattern: &str) -> Vec<RecordedRequest> {
        lock(&self.inner.requests)
            .iter()
            .filter(|request| request.matches(method, pattern))
            .cloned()
            .collect()
    }

    pub(crate) fn signature_failures(&self) -> Vec<SignatureFailure> {
        lock(&self.inner.failures).clone()
    }

    /// Panics with every failed check (request, body, reason) if there is any.
    #[track_caller]
    pub(crate) fn assert_every_request_verified(&self) {
        let failures = self.signature_failures();
        let described: Vec<String> = failures
            .iter()
            .map(|failure| {
                format!(
                    "{} {}\n  body: {}\n  reason: {}",
                    failure.method, failure.uri, failure.body, failure.reason
                )
            })
            .collect();
        assert!(
            failures.is_empty(),
            "{} checks failed over {} requests:\n{}",
            failures.len(),
            self.requests().len(),
            described.join("\n")
        );
    }

    /// Answers `method` on paths like `pattern` with `reply` (newest script first); a script
    /// that returns `None` leaves the request to older scripts and the defaults.
    pub(crate) fn on(
        &self,
        method: Method,
        pattern: &str,
        reply: impl Fn(&RecordedRequest) -> Option<Reply> + Send + Sync + 'static,
    ) {
        lock(&self.inner.scripts).push((method, pattern.to_owned(), Arc::new(reply)));
    }

    /// Leaves `method` on paths like `pattern` unanswered from now on: such requests are
    /// recorded (and checked) as they come, and answered only after [`Self::release`]. The
    /// sender sees a request in flight, as with a peer that is slow or cut off mid-transaction.
    pub(crate) fn hold(&self, method: Method, pattern: &str) {
        self.inner
            .holds
            .send_modify(|holds| holds.push((method, pattern.to_owned())));
    }

    /// Ends every hold: held requests are answered now (as they would have been), later ones
    /// at once.
    pub(crate) fn release(&self) {
        self.inner.holds.send_modify(Vec::clear);
    }

    /// Answers `/event/{eventId}` for this event with 404.
    pub(crate) fn withhold(&self, event_id: &str) {
        lock(&self.inner.withheld).insert(event_id.to_owned());
    }

    /// Waits until the peer received `method` on a path like `pattern`; returns the first such
    /// request.
    pub(crate) async fn wait_for_request(
        &self,
        method: &Method,
        pattern: &str,
        seconds: u64,
    ) -> RecordedRequest {
        self.wait_until(&format!("{method} {pattern}"), seconds, |requests| {
            requests
                .iter()
                .any(|request| request.matches(method, pattern))
        })
        .await;
        self.requests_to(method, pattern).remove(0)
    }

    /// Waits until `check` accepts the requests received so far.
    pub(crate) async fn wait_until(
        &self,
        what: &str,
        seconds: u64,
        check: impl Fn(&[RecordedRequest]) -> bool,
    ) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
        loop {
            if check(&self.requests()) {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                let seen: Vec<String> = self
                    .requests()
                    .iter()
                    .map(|request| format!("{} {}", request.method, request.uri))
                    .collect();
                panic!("the peer did not receive {what} within {seconds}s; it received {seen:#?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every PDU that came in `/send` transactions.
    pub(crate) fn received_pdus(&self) -> Vec<Value> {
        self.transactions("pdus")
    }

    /// Every EDU that came in `/send` transactions.
    pub(crate) fn received_edus(&self) -> Vec<Value> {
        self.transactions("edus")
    }

    fn transactions(&self, field: &str) -> Vec<Value> {
        self.requests_to(&Method::PUT, "/_matrix/federation/v1/send/*")
            .iter()
            .flat_map(|request| request.body[field].as_array().cloned().unwrap_or_default())
            .collect()
    }

    fn signer(&self) -> Signer<'_> {
        Signer {
            server_name: self.server_name(),
            key_pair: &self.inner.key_pair,
        }
    }

    fn with_room<T>(&self, room_id: &str, act: impl FnOnce(&mut PeerRoom) -> T) -> T {
        let mut rooms = lock(&self.inner.rooms);
        let room = rooms
            .get_mut(room_id)
            .unwrap_or_else(|| panic!("the peer hosts no room {room_id}"));
        act(room)
    }

    /// A public room of the peer's user `creator` (a localpart); returns its id.
    pub(crate) fn create_room(&self, version: &str, creator: &str) -> String {
        let version = RoomVersionId::try_from(version).expect("room version");
        let room = PeerRoom::create(&self.signer(), version, &self.user_id(creator));
        let room_id = room.room_id.clone();
        lock(&self.inner.rooms).insert(room_id.clone(), room);
        room_id
    }

    /// Builds and signs an event of the room without placing it in the room's graph; `/event`
    /// serves it from now on.
    pub(crate) fn build_event(&self, room_id: &str, event: PeerEvent) -> (String, Value) {
        let signer = self.signer();
        self.with_room(room_id, |room| room.build(&signer, event))
    }

    /// Places a built event in the room's graph, after its current state.
    pub(crate) fn place_event(&self, room_id: &str, event_id: &str) {
        self.with_room(room_id, |room| room.place(event_id));
    }

    /// Builds, signs and places an event (it is not sent anywhere).
    pub(crate) fn send_event(&self, room_id: &str, event: PeerEvent) -> (String, Value) {
        let (event_id, value) = self.build_event(room_id, event);
        self.place_event(room_id, &event_id);
        (event_id, value)
    }

    /// An event of a room the peer hosts, as signed.
    pub(crate) fn event(&self, event_id: &str) -> Option<Value> {
        lock(&self.inner.rooms)
            .values()
            .find_map(|room| room.event(event_id).cloned())
    }

    /// The current state of a room the peer hosts.
    pub(crate) fn current_state(&self, room_id: &str) -> StateMap {
        self.with_room(room_id, |room| room.state().clone())
    }

    /// The auth chain of `event_ids` in a room the peer hosts, oldest first.
    pub(crate) fn auth_chain(&self, room_id: &str, event_ids: &[String]) -> Vec<String> {
        self.with_room(room_id, |room| room.auth_chain(event_ids))
    }
}
