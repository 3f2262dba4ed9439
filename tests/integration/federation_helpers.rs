//! Helpers of the federation tests: joining through a server, reading syncs, and acting as a
//! server (signed transactions and requests built from a real server's key and room view).

use reqwest::StatusCode;
use ruma::{
    CanonicalJsonObject, CanonicalJsonValue, MilliSecondsSinceUnixEpoch, OwnedServerName,
    OwnedTransactionId, RoomId, UserId,
    api::{
        OutgoingRequestExt as _,
        federation::{authentication::XMatrixSigningInput, transactions::send_transaction_message},
    },
    signatures::Ed25519KeyPair,
};
use serde_json::{Value, json, value::to_raw_value};

use crate::common::{TestServer, TestUser, message_bodies, timeline_events};

pub(crate) async fn join_via(
    server: &TestServer,
    user: &TestUser,
    room_id: &str,
    via: &str,
) -> (StatusCode, Value) {
    server
        .post(
            &format!("/_matrix/client/v3/join/{room_id}?via={via}"),
            Some(&user.access_token),
            json!({}),
        )
        .await
}

pub(crate) fn bodies_in(syncs: &Value, room_id: &str) -> Vec<String> {
    message_bodies(&Value::Array(timeline_events(syncs, room_id)))
}

/// Ephemeral events of a type in a room across sync responses.
pub(crate) fn ephemeral_events(syncs: &Value, room_id: &str, kind: &str) -> Vec<Value> {
    syncs
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|sync| {
            sync["rooms"]["join"][room_id]["ephemeral"]["events"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|event| event["type"] == kind)
        .collect()
}

/// A user's latest membership as a series of syncs shows it (state or timeline).
pub(crate) fn membership_of(syncs: &Value, room_id: &str, user_id: &str) -> Option<String> {
    let mut events = Vec::new();
    for sync in syncs.as_array().into_iter().flatten() {
        for section in ["join", "leave"] {
            let room = &sync["rooms"][section][room_id];
            for part in ["state", "timeline"] {
                events.extend(room[part]["events"].as_array().cloned().unwrap_or_default());
            }
        }
    }
    events
        .iter()
        .rev()
        .find(|event| event["type"] == "m.room.member" && event["state_key"] == user_id)
        .and_then(|event| event["content"]["membership"].as_str().map(str::to_owned))
}

/// `myelin_federation_queue_depth` from a server's metrics.
pub(crate) async fn queue_depth(server: &TestServer) -> i64 {
    let (status, metrics) = server.get("/_myelin/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    metrics
        .as_str()
        .expect("text")
        .lines()
        .find_map(|line| line.strip_prefix("myelin_federation_queue_depth "))
        .and_then(|value| value.trim().parse().ok())
        .expect("queue depth gauge")
}

pub(crate) fn http() -> reqwest::Client {
    crate::common::http_client_builder()
        .tls_danger_accept_invalid_certs(true)
        .build()
        .expect("client")
}

/// Sends `pdus` in a transaction from `origin` to `destination`, signed with `key` (the
/// origin's own key unless another is given).
pub(crate) async fn send_transaction(
    origin: &TestServer,
    destination: &TestServer,
    pdus: Vec<Value>,
    key: Option<&Ed25519KeyPair>,
) -> (StatusCode, Value) {
    let address = destination.server().federation_addr.expect("federation");
    signed_transaction(
        origin,
        &destination.server_name(),
        address.port(),
        pdus,
        key,
    )
    .await
}

/// A transaction from `origin` to the server named `destination` on 127.0.0.1:`port`.
pub(crate) async fn send_transaction_to(
    origin: &TestServer,
    destination: &str,
    port: u16,
    pdus: Vec<Value>,
) -> (StatusCode, Value) {
    signed_transaction(origin, destination, port, pdus, None).await
}

pub(crate) async fn signed_transaction(
    origin: &TestServer,
    destination: &str,
    port: u16,
    pdus: Vec<Value>,
    key: Option<&Ed25519KeyPair>,
) -> (StatusCode, Value) {
    let origin_name = OwnedServerName::try_from(origin.server_name()).expect("name");
    let destination_name = OwnedServerName::try_from(destination).expect("name");
    let mut request = send_transaction_message::v1::Request::new(
        OwnedTransactionId::from(format!("t{}", rand::random::<u64>())),
        origin_name.clone(),
        MilliSecondsSinceUnixEpoch::now(),
    );
    request.pdus = pdus
        .iter()
        .map(|pdu| to_raw_value(pdu).expect("raw"))
        .collect();
    let own_key = &origin.server().services().keys.key_pair;
    let input = XMatrixSigningInput::new(origin_name, destination_name, key.unwrap_or(own_key));
    let http_request = request
        .try_into_http_request::<Vec<u8>>(&format!("https://127.0.0.1:{port}"), input, ())
        .expect("request");
    let response = http()
        .execute(reqwest::Request::try_from(http_request).expect("reqwest request"))
        .await
        .expect("sent");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `count` messages of `sender` chained one after the other from `origin`'s view of the room,
/// signed by `origin`.
pub(crate) fn chained_messages(
    origin: &TestServer,
    room_id: &str,
    sender: &str,
    count: usize,
) -> Vec<Value> {
    let rooms = &origin.server().services().rooms;
    let room_id = RoomId::parse(room_id).expect("room id");
    let sender = UserId::parse(sender).expect("user id");
    let spec = myelin_core::rooms::EventSpec::message("m.room.message", json!({}));
    let (version, template) = rooms
        .event_template(&room_id, &sender, &spec)
        .expect("template");
    let depth = match template.get("depth") {
        Some(CanonicalJsonValue::Integer(depth)) => i64::from(*depth),
        _ => 1,
    };
    let mut prev: Option<String> = None;
    let mut events = Vec::new();
    for (n, depth) in (0..count).zip(depth..) {
        let mut object = template.clone();
        if let Some(prev) = &prev {
            object.insert(
                "prev_events".into(),
                CanonicalJsonValue::Array(vec![prev.clone().into()]),
            );
        }
        object.insert(
            "depth".into(),
            CanonicalJsonValue::Integer(depth.try_into().expect("depth")),
        );
        object.insert(
            "content".into(),
            serde_json::from_value(json!({ "msgtype": "m.text", "body": format!("chained {n}") }))
                .expect("content"),
        );
        let event = rooms.sign_template(&version, object).expect("signed");
        prev = Some(event.event_id.to_string());
        events.push(serde_json::to_value(&event.object).expect("json"));
    }
    events
}

/// An event `sender` on `origin` would build in `room_id`, signed by `origin`.
pub(crate) fn event_from(
    origin: &TestServer,
    room_id: &str,
    sender: &str,
    kind: &str,
    state_key: Option<&str>,
    content: Value,
) -> (String, CanonicalJsonObject) {
    let rooms = &origin.server().services().rooms;
    let room_id = RoomId::parse(room_id).expect("room id");
    let sender = UserId::parse(sender).expect("user id");
    let spec = myelin_core::rooms::EventSpec {
        kind: kind.into(),
        state_key: state_key.map(str::to_owned),
        content,
        redacts: None,
        timestamp: None,
    };
    let (version, template) = rooms
        .event_template(&room_id, &sender, &spec)
        .expect("template");
    let event = rooms.sign_template(&version, template).expect("signed");
    (event.event_id.to_string(), event.object)
}

pub(crate) async fn setup() -> (TestServer, TestServer, TestUser, TestUser, String) {
    let (a, _) = TestServer::start_federated().await;
    let (b, _) = TestServer::start_federated().await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let room_id = a
        .create_room(
            &alice,
            json!({ "preset": "public_chat", "room_version": "11" }),
        )
        .await;
    let (status, body) = b
        .post(
            &format!("/_matrix/client/v3/join/{room_id}?via={}", a.server_name()),
            Some(&bob.access_token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (a, b, alice, bob, room_id)
}

pub(crate) async fn room_bodies(
    server: &TestServer,
    user: &TestUser,
    room_id: &str,
) -> Vec<String> {
    let (status, messages) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=100"),
            Some(&user.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{messages}");
    message_bodies(&messages["chunk"])
}

/// A signed GET from `origin` to `destination`'s federation API; (status, body).
pub(crate) async fn federation_get_as(
    origin: &TestServer,
    destination: &TestServer,
    path: &str,
) -> (StatusCode, Value) {
    federation_request_as(origin, destination, "GET", path, None).await
}

/// A signed request from `origin` to `destination`'s federation API, with a JSON body or
/// none; (status, body).
pub(crate) async fn federation_request_as(
    origin: &TestServer,
    destination: &TestServer,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let origin_name = OwnedServerName::try_from(origin.server_name()).expect("name");
    let destination_name = OwnedServerName::try_from(destination.server_name()).expect("name");
    let address = destination.server().federation_addr.expect("federation");
    let mut request = ::http::Request::builder()
        .method(method)
        .uri(format!("https://{address}{path}"))
        .header(::http::header::CONTENT_TYPE, "application/json")
        .body(body.map_or_else(Vec::new, |body| serde_json::to_vec(body).expect("json")))
        .expect("request");
    let input = XMatrixSigningInput::new(
        origin_name,
        destination_name,
        &origin.server().services().keys.key_pair,
    );
    let xmatrix =
        ruma::api::federation::authentication::XMatrix::sign_http_request(&request, input)
            .expect("signed");
    request.headers_mut().insert(
        ::http::header::AUTHORIZATION,
        ::http::HeaderValue::from(&xmatrix),
    );
    let response = http()
        .execute(reqwest::Request::try_from(request).expect("reqwest request"))
        .await
        .expect("sent");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}
