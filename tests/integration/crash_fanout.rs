//! Outbound delivery across crashes and outages: a federation transaction or an appservice
//! transaction cut off by SIGKILL is sent again after the restart, and a peer that was down
//! while a thousand events piled up for it gets every one of them, in order, once. Each test
//! reads what the receiving side got (bodies, event ids, transaction ids), so a lost or a
//! duplicated delivery fails it.

use std::{
    collections::BTreeMap,
    path::Path,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    extract::{Path as UrlPath, State},
    http::{HeaderMap, StatusCode as AxumStatus},
    routing::put,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::{
    common::TestUser,
    durability::{ServerProcess, register, server_env, spawn_server},
    scripted_peer::{RecordedRequest, ScriptedPeer, encode},
};

const SEND: &str = "/_matrix/federation/v1/send/*";

/// The `myelin` binary's environment for federating on loopback as `localhost:<port>`, with
/// `data_dir` as its data directory.
fn federated_binary(data_dir: &Path) -> Vec<(&'static str, String)> {
    let port = crate::common::free_port();
    let mut environment = server_env(data_dir);
    environment.retain(|(key, _)| *key != "MYELIN_FEDERATION__ENABLED");
    environment.extend([
        ("MYELIN_SERVER__NAME", format!("localhost:{port}")),
        ("MYELIN_FEDERATION__BIND", format!("127.0.0.1:{port}")),
        ("MYELIN_FEDERATION__VERIFY_CERTIFICATES", "false".into()),
        (
            "MYELIN_FEDERATION__IP_RANGE_ALLOWLIST",
            r#"["127.0.0.0/8"]"#.into(),
        ),
    ]);
    environment
}

/// The binary as a child process, SIGKILLed when dropped (also when a test fails half-way).
struct Binary(ServerProcess);

impl Binary {
    fn spawn(environment: &[(&'static str, String)]) -> Self {
        Self(spawn_server(environment))
    }

    fn url(&self) -> &str {
        &self.0.url
    }

    fn sigkill(&mut self) {
        self.0.child.kill().expect("SIGKILL");
        self.0.child.wait().expect("reaped");
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.0.child.kill();
        let _ = self.0.child.wait();
    }
}

/// Sends a text message as `user` of the binary at `url`; returns its event id.
async fn send_message(
    http: &reqwest::Client,
    url: &str,
    user: &TestUser,
    room_id: &str,
    txn_id: &str,
    body: &str,
) -> String {
    let response = http
        .put(format!(
            "{url}/_matrix/client/v3/rooms/{}/send/m.room.message/{txn_id}",
            encode(room_id)
        ))
        .bearer_auth(&user.access_token)
        .json(&json!({ "msgtype": "m.text", "body": body }))
        .send()
        .await
        .expect("send");
    let status = response.status();
    let answer: Value = response.json().await.expect("json");
    assert_eq!(status, StatusCode::OK, "send {body:?}: {answer}");
    answer["event_id"].as_str().expect("event_id").to_owned()
}

/// The event id of a room version 11 PDU as it came over federation (`$` and its reference
/// hash: the PDU itself carries none).
fn pdu_event_id(pdu: &Value) -> String {
    let rules = ruma::RoomVersionId::V11.rules().expect("room version 11");
    let object = match ruma::CanonicalJsonValue::try_from(pdu.clone()) {
        Ok(ruma::CanonicalJsonValue::Object(object)) => object,
        other => panic!("a PDU is a canonical JSON object: {other:?}"),
    };
    let hash = ruma::signatures::reference_hash(&object, &rules).expect("reference hash");
    format!("${hash}")
}

/// The `(event id, body)` of every message PDU of a `/send` request.
fn messages_in(request: &RecordedRequest) -> Vec<(String, String)> {
    request.body["pdus"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|pdu| pdu["type"] == "m.room.message")
        .map(|pdu| {
            let body = pdu["content"]["body"].as_str().unwrap_or_default();
            (pdu_event_id(pdu), body.to_owned())
        })
        .collect()
}

/// A transaction that was in flight when the sending server was SIGKILLed — the peer holds
/// it, so it is never acknowledged — is sent again by the restarted server: the peer receives
/// each of the five messages (same event ids, same bodies) after the restart, each in exactly
/// one transaction, and a message it had acknowledged before the crash is not sent again.
#[tokio::test(flavor = "multi_thread")]
async fn a_federation_transaction_cut_by_sigkill_is_sent_again_after_restart() {
    let peer = ScriptedPeer::start().await;
    let room_id = peer.create_room("11", "host");
    let dir = tempfile::tempdir().expect("tempdir");
    let environment = federated_binary(dir.path());
    let http = crate::common::http_client();
    let mut server = Binary::spawn(&environment);
    let alice = register(&http, server.url(), "alice").await;
    let joined = http
        .post(format!(
            "{}/_matrix/client/v3/join/{}?server_name={}",
            server.url(),
            encode(&room_id),
            encode(peer.server_name())
        ))
        .bearer_auth(&alice.access_token)
        .json(&json!({}))
        .send()
        .await
        .expect("join");
    assert_eq!(joined.status(), StatusCode::OK, "join the peer's room");

    // A message delivered and acknowledged before the crash: the sender is idle after it.
    let early = send_message(&http, server.url(), &alice, &room_id, "early", "early").await;
    peer.wait_until("the early message", 20, |requests| {
        requests
            .iter()
            .filter(|request| request.matches(&Method::PUT, SEND))
            .flat_map(messages_in)
            .any(|(event_id, _)| event_id == early)
    })
    .await;

    peer.hold(Method::PUT, SEND);
    let mut sent = Vec::new();
    for index in 0..5 {
        let body = format!("cut {index}");
        let event_id = send_message(
            &http,
            server.url(),
            &alice,
            &room_id,
            &format!("c{index}"),
            &body,
        )
        .await;
        sent.push((event_id, body));
    }
    peer.wait_until("a held /send with a message of the five", 20, |requests| {
        requests
            .iter()
            .filter(|request| request.matches(&Method::PUT, SEND))
            .flat_map(messages_in)
            .any(|message| sent.contains(&message))
    })
    .await;
    server.sigkill();
    let before_restart = peer.requests_to(&Method::PUT, SEND).len();
    let cut: Vec<(String, String)> = peer.requests_to(&Method::PUT, SEND)[..before_restart]
        .iter()
        .flat_map(messages_in)
        .filter(|message| sent.contains(message))
        .collect();
    assert!(!cut.is_empty(), "the held transaction carried a message");
    // The held request answers a connection that is gone; later ones are answered at once.
    peer.release();

    let _restarted = Binary::spawn(&environment);
    let after = |requests: &[RecordedRequest]| -> Vec<Vec<(String, String)>> {
        requests
            .iter()
            .filter(|request| request.matches(&Method::PUT, SEND))
            .skip(before_restart)
            .map(messages_in)
            .collect()
    };
    peer.wait_until("the five messages after the restart", 30, |requests| {
        let delivered: Vec<(String, String)> = after(requests).into_iter().flatten().collect();
        sent.iter().all(|message| delivered.contains(message))
    })
    .await;
    // Late duplicates would come soon after.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let transactions = after(&peer.requests());
    for (event_id, body) in &sent {
        let carrying = transactions
            .iter()
            .filter(|messages| messages.iter().any(|(id, _)| id == event_id))
            .count();
        assert_eq!(
            carrying, 1,
            "{body:?} ({event_id}) came in {carrying} transactions after the restart: {transactions:?}"
        );
    }
    assert!(
        transactions
            .iter()
            .flatten()
            .all(|(event_id, _)| *event_id != early),
        "the message acknowledged before the crash was sent again: {transactions:?}"
    );
    // The restarted server sent the five in order.
    let order: Vec<String> = transactions
        .iter()
        .flatten()
        .map(|(_, body)| body.clone())
        .collect();
    let expected: Vec<String> = sent.iter().map(|(_, body)| body.clone()).collect();
    assert_eq!(order, expected, "the messages after the restart");
    peer.assert_every_request_verified();
}

/// The stub appservice of [`an_appservice_transaction_cut_by_sigkill_is_sent_again_with_its_id`]:
/// records every transaction as it comes (id, body) and, once armed, leaves the first one
/// unanswered until released.
#[derive(Clone)]
struct HoldingAppservice {
    transactions: Arc<Mutex<Vec<(String, Value)>>>,
    armed: Arc<Mutex<bool>>,
    held: Arc<Mutex<Option<String>>>,
    released: watch::Sender<bool>,
}

const HS_TOKEN: &str = "hs-token-of-the-held-bridge";
const AS_TOKEN: &str = "as-token-of-the-held-bridge";

impl HoldingAppservice {
    fn new() -> Self {
        Self {
            transactions: Arc::default(),
            armed: Arc::default(),
            held: Arc::default(),
            released: watch::Sender::new(false),
        }
    }

    /// Listens on 127.0.0.1; returns its URL.
    async fn start(&self) -> String {
        let app = Router::new()
            .route("/_matrix/app/v1/transactions/{txn}", put(Self::transaction))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{address}")
    }

    async fn transaction(
        State(stub): State<Self>,
        UrlPath(txn_id): UrlPath<String>,
        headers: HeaderMap,
        Json(body): Json<Value>,
    ) -> (AxumStatus, Json<Value>) {
        let authorised = headers
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            == Some(&format!("Bearer {HS_TOKEN}"));
        if !authorised {
            return (
                AxumStatus::FORBIDDEN,
                Json(json!({ "errcode": "M_FORBIDDEN" })),
            );
        }
        stub.transactions
            .lock()
            .expect("lock")
            .push((txn_id.clone(), body));
        let hold = {
            let mut armed = stub.armed.lock().expect("lock");
            std::mem::replace(&mut *armed, false)
        };
        if hold {
            *stub.held.lock().expect("lock") = Some(txn_id);
            let _ = stub
                .released
                .subscribe()
                .wait_for(|released| *released)
                .await;
        }
        (AxumStatus::OK, Json(json!({})))
    }

    fn transactions(&self) -> Vec<(String, Value)> {
        self.transactions.lock().expect("lock").clone()
    }

    async fn wait_until(&self, what: &str, check: impl Fn(&[(String, Value)]) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !check(&self.transactions()) {
            assert!(
                Instant::now() < deadline,
                "the appservice did not get {what}; it got {:#?}",
                self.transactions()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The event ids of a transaction body's events.
fn event_ids(body: &Value) -> Vec<String> {
    body["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|event| event["event_id"].as_str().map(str::to_owned))
        .collect()
}

/// An appservice transaction cut off by SIGKILL (the appservice never answered it) is sent
/// again by the restarted server under the same transaction id with the same events — so an
/// appservice that dedups by id applies it once — and across all distinct transaction ids
/// each of the five messages arrives exactly once, in the order sent, with its body.
#[tokio::test(flavor = "multi_thread")]
async fn an_appservice_transaction_cut_by_sigkill_is_sent_again_with_its_id() {
    let stub = HoldingAppservice::new();
    let stub_url = stub.start().await;
    let dir = tempfile::tempdir().expect("dir");
    let registration = dir.path().join("held.yaml");
    std::fs::write(
        &registration,
        format!(
            "id: heldbridge\nurl: {stub_url}\nas_token: {AS_TOKEN}\nhs_token: {HS_TOKEN}\nsender_localpart: heldbot\nrate_limited: false\nnamespaces:\n  users:\n    - exclusive: true\n      regex: '@held_.*:localhost'\n"
        ),
    )
    .expect("registration");
    let config = dir.path().join("myelin.toml");
    std::fs::write(
        &config,
        format!(
            "[appservices]\nregistration_files = [{:?}]\n",
            registration.display().to_string()
        ),
    )
    .expect("config");
    let mut environment = server_env(&dir.path().join("data"));
    environment.push(("MYELIN_CONFIG", config.display().to_string()));
    let http = crate::common::http_client();
    let mut server = Binary::spawn(&environment);
    let alice = register(&http, server.url(), "alice").await;
    let as_call = |method: Method, path: String, body: Value| {
        let request = http
            .request(method, format!("{}{path}", server.url()))
            .bearer_auth(AS_TOKEN)
            .json(&body);
        async move {
            let response = request.send().await.expect("sent");
            let status = response.status();
            let body: Value = response.json().await.expect("json");
            (status, body)
        }
    };
    let (status, ghost) = as_call(
        Method::POST,
        "/_matrix/client/v3/register".into(),
        json!({ "type": "m.login.application_service", "username": "held_bob", "inhibit_login": true }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{ghost}");
    let created: Value = http
        .post(format!("{}/_matrix/client/v3/createRoom", server.url()))
        .bearer_auth(&alice.access_token)
        .json(&json!({ "preset": "public_chat" }))
        .send()
        .await
        .expect("createRoom")
        .json()
        .await
        .expect("json");
    let room_id = created["room_id"].as_str().expect("room id").to_owned();
    let (status, joined) = as_call(
        Method::POST,
        format!(
            "/_matrix/client/v3/join/{}?user_id=%40held_bob%3Alocalhost",
            encode(&room_id)
        ),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    // The ghost's join is delivered (and answered) first: the sender is idle after it.
    stub.wait_until("the ghost's join", |transactions| {
        transactions.iter().any(|(_, body)| {
            body["events"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|event| {
                    event["type"] == "m.room.member"
                        && event["state_key"] == "@held_bob:localhost"
                        && event["content"]["membership"] == "join"
                })
        })
    })
    .await;

    *stub.armed.lock().expect("lock") = true;
    let mut sent = Vec::new();
    for index in 0..5 {
        let body = format!("bridged {index}");
        let event_id = send_message(
            &http,
            server.url(),
            &alice,
            &room_id,
            &format!("b{index}"),
            &body,
        )
        .await;
        sent.push((event_id, body));
    }
    let held = {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(held) = stub.held.lock().expect("lock").clone() {
                break held;
            }
            assert!(Instant::now() < deadline, "no transaction came to be held");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    server.sigkill();
    let before_restart = stub.transactions().len();
    let cut = stub
        .transactions()
        .into_iter()
        .find(|(txn_id, _)| *txn_id == held)
        .expect("the held transaction is recorded")
        .1;
    let sent_ids: Vec<String> = sent.iter().map(|(event_id, _)| event_id.clone()).collect();
    assert!(
        event_ids(&cut).iter().any(|id| sent_ids.contains(id)),
        "the held transaction carried a message: {cut}"
    );
    stub.released.send_replace(true);

    let _restarted = Binary::spawn(&environment);
    stub.wait_until("the five messages after the restart", |transactions| {
        let delivered: Vec<String> = transactions[before_restart..]
            .iter()
            .flat_map(|(_, body)| event_ids(body))
            .collect();
        sent_ids.iter().all(|id| delivered.contains(id))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let transactions = stub.transactions();

    // The first transaction after the restart is the cut one again: same id, same events.
    let (retried_id, retried) = &transactions[before_restart];
    assert_eq!(
        *retried_id, held,
        "the transaction after the restart has the cut one's id; got {transactions:#?}"
    );
    assert_eq!(
        retried["events"], cut["events"],
        "the retried transaction carries the cut one's events"
    );

    // Every delivery of one transaction id carries the same events; per distinct id, each
    // message comes once, in the order sent, with its body.
    let mut by_id: BTreeMap<u64, &Value> = BTreeMap::new();
    for (txn_id, body) in &transactions {
        let number: u64 = txn_id.parse().expect("numeric transaction ids");
        if let Some(earlier) = by_id.insert(number, body) {
            assert_eq!(
                event_ids(earlier),
                event_ids(body),
                "transaction {txn_id} was sent with different events"
            );
        }
    }
    let delivered: Vec<(String, String)> = by_id
        .values()
        .flat_map(|body| body["events"].as_array().cloned().unwrap_or_default())
        .filter(|event| sent_ids.iter().any(|id| event["event_id"] == json!(id)))
        .map(|event| {
            (
                event["event_id"].as_str().unwrap_or_default().to_owned(),
                event["content"]["body"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    assert_eq!(
        delivered, sent,
        "each message once, in order, across the distinct transactions"
    );
}
