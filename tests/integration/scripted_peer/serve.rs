//! How the peer answers: every request is recorded and its signatures checked, then the test's
//! scripts answer it, else the defaults below (what a plain server hosting the peer's rooms
//! would say).

use std::sync::Arc;

use axum::{
    Json,
    extract::{Request, State},
    response::{IntoResponse, Response},
};
use myelin_core::lock;
use reqwest::StatusCode;
use ruma::{
    CanonicalJsonValue, MilliSecondsSinceUnixEpoch, RoomVersionId, serde::Base64,
    signatures::sign_json,
};
use serde_json::{Value, json};

use super::{
    Inner, RecordedRequest, Reply, Script, SignatureFailure,
    room::{PeerRoom, to_canonical, to_value},
    verify,
};

/// Records the request, checks its signatures, and answers it.
pub(super) async fn handle_request(State(inner): State<Arc<Inner>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let uri = parts.uri.path_and_query().map_or_else(
        || parts.uri.path().to_owned(),
        |target| target.as_str().to_owned(),
    );
    let recorded = RecordedRequest::new(parts.method.clone(), &uri, &bytes);
    // The key document and the version are the only unauthenticated endpoints here.
    let signed = recorded.segment(1) == "federation" && recorded.segment(3) != "version";
    if signed {
        let mut failures = Vec::new();
        if let Err(reason) =
            verify::check_request(&inner, parts.method.as_str(), &uri, &parts.headers, &bytes).await
        {
            failures.push(reason);
        }
        failures.extend(inner.check_pdus(&recorded).await);
        let body = String::from_utf8_lossy(&bytes).into_owned();
        lock(&inner.failures).extend(failures.into_iter().map(|reason| SignatureFailure {
            method: parts.method.clone(),
            uri: uri.clone(),
            body: body.clone(),
            reason,
        }));
    }
    lock(&inner.requests).push(recorded.clone());
    // A held request waits, recorded, until the test releases it.
    let _ = inner
        .holds
        .subscribe()
        .wait_for(|holds| {
            !holds
                .iter()
                .any(|(method, pattern)| recorded.matches(method, pattern))
        })
        .await;
    let reply = inner.answer(&recorded);
    (reply.status, Json(reply.body)).into_response()
}

impl Inner {
    /// The signatures of the PDUs of a `/send` or `send_join` for a room the peer hosts.
    async fn check_pdus(&self, request: &RecordedRequest) -> Vec<String> {
        let pdus = match (request.segment(3), &request.body) {
            ("send", body) => body["pdus"].as_array().cloned().unwrap_or_default(),
            ("send_join", body) => vec![body.clone()],
            _ => return Vec::new(),
        };
        let mut failures = Vec::new();
        for pdu in pdus {
            let rules = pdu["room_id"].as_str().and_then(|room_id| {
                lock(&self.rooms)
                    .get(room_id)
                    .map(|room| room.rules.clone())
            });
            let Some(rules) = rules else {
                continue;
            };
            if let Err(reason) = verify::check_pdu(self, &pdu, &rules).await {
                failures.push(format!("{reason} (PDU {pdu})"));
            }
        }
        failures
    }

    fn answer(&self, request: &RecordedRequest) -> Reply {
        let scripts: Vec<Arc<Script>> = lock(&self.scripts)
            .iter()
            .rev()
            .filter(|(method, pattern, _)| request.matches(method, pattern))
            .map(|(_, _, script)| Arc::clone(script))
            .collect();
        scripts
            .iter()
            .find_map(|script| script(request))
            .unwrap_or_else(|| self.default_answer(request))
    }

    /// What the peer answers without a script.
    fn default_answer(&self, request: &RecordedRequest) -> Reply {
        let segments: Vec<&str> = request.segments.iter().map(String::as_str).collect();
        match segments.as_slice() {
            ["_matrix", "key", "v2", "server", ..] => Reply::json(self.key_document()),
            ["_matrix", "federation", endpoint @ ..] => self.federation_answer(request, endpoint),
            _ => Reply::unrecognized(),
        }
    }

    /// `endpoint`: the path after `/_matrix/federation/`, decoded.
    fn federation_answer(&self, request: &RecordedRequest, endpoint: &[&str]) -> Reply {
        match (request.method.as_str(), endpoint) {
            ("GET", ["v1", "version"]) => {
                Reply::json(json!({ "server": { "name": "scripted-peer", "version": "0" } }))
            }
            ("PUT", ["v1", "send", _]) => self.receive_transaction(request),
            ("GET", ["v1", "event", event_id]) => self.serve_event(event_id),
            ("GET", ["v1", "make_join", room_id, user_id]) => {
                self.in_room(room_id, |room| make_join(room, user_id, request))
            }
            ("PUT", [version, "send_join", room_id, _]) => self.in_room(room_id, |room| {
                let answer = room.send_join(self.server_name.as_str(), request.body.clone());
                // v1 wraps the answer in `[200, …]`.
                Reply::json(match *version {
                    "v1" => json!([200, answer]),
                    _ => answer,
                })
            }),
            ("GET", ["v1", kind @ ("state_ids" | "state"), room_id]) => {
                self.in_room(room_id, |room| state_at(room, kind, request))
            }
            ("GET", ["v1", "event_auth", room_id, event_id]) => self.in_room(room_id, |room| {
                let chain = room.auth_chain([(*event_id).to_owned()].iter());
                Reply::json(json!({ "auth_chain": room.events_json(&chain) }))
            }),
            ("POST", ["v1", "get_missing_events", room_id]) => {
                self.in_room(room_id, |room| missing_events(room, request))
            }
            ("GET", ["v1", "backfill", room_id]) => self.in_room(room_id, |room| {
                let limit = request
                    .query_param("limit")
                    .and_then(|limit| limit.parse().ok());
                let events = room.backfill(&request.query_values("v"), limit.unwrap_or(10));
                Reply::json(self.pdus_answer(room.events_json(&events)))
            }),
            ("PUT", ["v2", "invite", _, _]) => self.countersign_invite(request),
            ("GET", ["v1", "user", "devices", user_id]) => {
                Reply::json(json!({ "user_id": user_id, "stream_id": 0, "devices": [] }))
            }
            ("POST", ["v1", "user", "keys", "query"]) => {
                let users: serde_json::Map<String, Value> = request.body["device_keys"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(user, _)| (user.clone(), json!({})))
                    .collect();
                Reply::json(json!({ "device_keys": users }))
            }
            ("POST", ["v1", "user", "keys", "claim"]) => {
                Reply::json(json!({ "one_time_keys": {} }))
            }
            _ => Reply::unrecognized(),
        }
    }

    /// `GET /_matrix/federation/v1/event/{eventId}`: any event the peer knows, unless withheld.
    fn serve_event(&self, event_id: &str) -> Reply {
        if lock(&self.withheld).contains(event_id) {
            return Reply::not_found("unknown event");
        }
        match self.find_event(event_id) {
            Some(event) => Reply::json(self.pdus_answer(vec![event])),
            None => Reply::not_found("unknown event"),
        }
    }

    fn in_room(&self, room_id: &str, act: impl FnOnce(&mut PeerRoom) -> Reply) -> Reply {
        match lock(&self.rooms).get_mut(room_id) {
            Some(room) => act(room),
            None => Reply::not_found("the peer hosts no such room"),
        }
    }

    fn find_event(&self, event_id: &str) -> Option<Value> {
        lock(&self.rooms)
            .values()
            .find_map(|room| room.event(event_id).cloned())
    }

    fn pdus_answer(&self, pdus: Vec<Value>) -> Value {
        json!({
            "origin": self.server_name,
            "origin_server_ts": MilliSecondsSinceUnixEpoch::now(),
            "pdus": pdus,
        })
    }

    /// Places the PDUs of rooms the peer hosts and accepts every one.
    fn receive_transaction(&self, request: &RecordedRequest) -> Reply {
        let mut results = serde_json::Map::new();
        for pdu in request.body["pdus"].as_array().into_iter().flatten() {
            let mut rooms = lock(&self.rooms);
            let Some(room) = pdu["room_id"]
                .as_str()
                .and_then(|room_id| rooms.get_mut(room_id))
            else {
                continue;
            };
            results.insert(room.receive(pdu.clone()), json!({}));
        }
        Reply::json(json!({ "pdus": results }))
    }

    /// Signs an invite of one of the peer's users, as the invited server does.
    fn countersign_invite(&self, request: &RecordedRequest) -> Reply {
        let Some(rules) = request.body["room_version"]
            .as_str()
            .and_then(|version| RoomVersionId::try_from(version).ok())
            .and_then(|version| version.rules())
        else {
            return Reply::unrecognized();
        };
        let mut event = to_canonical(request.body["event"].clone());
        ruma::signatures::sign_event(
            self.server_name.as_str(),
            &self.key_pair,
            &mut event,
            &rules.redaction,
        )
        .expect("an invite can be signed");
        Reply::json(json!({ "event": to_value(event) }))
    }

    /// `GET /_matrix/key/v2/server`: the peer's key, valid for a day, signed by itself.
    fn key_document(&self) -> Value {
        let valid_until = MilliSecondsSinceUnixEpoch::now().get() + ruma::UInt::from(86_400_000u32);
        let public_key =
            Base64::<ruma::serde::base64::Standard, _>::new(self.key_pair.public_key());
        let document = json!({
            "server_name": self.server_name,
            "valid_until_ts": valid_until,
            "verify_keys": { format!("ed25519:{}", self.key_pair.version()): { "key": public_key.encode() } },
            "old_verify_keys": {},
        });
        let mut object = to_canonical(document);
        sign_json(self.server_name.as_str(), &self.key_pair, &mut object).expect("signed");
        CanonicalJsonValue::Object(object).into()
    }
}

fn make_join(room: &PeerRoom, user_id: &str, request: &RecordedRequest) -> Reply {
    match room.make_join(user_id, &request.query_values("ver")) {
        Ok(template) => Reply::json(template),
        Err((status, body)) => Reply { status, body },
    }
}

/// `state_ids` or `state` at `?event_id=`: the state before the event and its auth chain.
fn state_at(room: &PeerRoom, kind: &str, request: &RecordedRequest) -> Reply {
    let at = request.query_param("event_id").unwrap_or_default();
    let Some(state) = room.state_before(at) else {
        return Reply::not_found("unknown event");
    };
    let state: Vec<String> = state.values().cloned().collect();
    let chain = room.auth_chain(&state);
    Reply::json(match kind {
        "state_ids" => json!({ "pdu_ids": state, "auth_chain_ids": chain }),
        _ => json!({ "pdus": room.events_json(&state), "auth_chain": room.events_json(&chain) }),
    })
}

fn missing_events(room: &PeerRoom, request: &RecordedRequest) -> Reply {
    let ids = |field: &str| -> Vec<String> {
        serde_json::from_value(request.body[field].clone()).unwrap_or_default()
    };
    let limit = request.body["limit"]
        .as_u64()
        .and_then(|limit| usize::try_from(limit).ok())
        .unwrap_or(10);
    let missing = room.missing_events(&ids("earliest_events"), &ids("latest_events"), limit);
    Reply::json(json!({ "events": room.events_json(&missing) }))
}
