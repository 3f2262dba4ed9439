//! Hostile input: what a user or another server sends must not hang, exhaust or crash the
//! server, and every refusal is a Matrix JSON error with a 4xx. Each test here failed before its
//! fix (see the hostile-input issue).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

use crate::common::{TestServer, assert_error};

/// Writes `request` on a fresh connection and reads until the server closes it or `wait`
/// passes; returns what was read.
async fn exchange(server: &TestServer, request: &[u8], wait: Duration) -> String {
    let mut stream = TcpStream::connect(server.server().client_addr)
        .await
        .expect("connect");
    stream.write_all(request).await.expect("write");
    read_for(&mut stream, wait).await
}

async fn read_for(stream: &mut TcpStream, wait: Duration) -> String {
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(wait, async {
        let mut buffer = [0u8; 8192];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(count) => {
                    answer.extend_from_slice(&buffer[..count]);
                    // One whole JSON answer is all these tests wait for.
                    if let Some(body) = body_of(&answer)
                        && serde_json::from_str::<Value>(body).is_ok()
                    {
                        return;
                    }
                }
            }
        }
    })
    .await;
    String::from_utf8_lossy(&answer).into_owned()
}

fn body_of(answer: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(answer).ok()?;
    text.split_once("\r\n\r\n").map(|(_, body)| body)
}

/// Status code and JSON body of a raw HTTP answer.
fn parse_answer(answer: &str) -> (u16, Value) {
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer in {answer:?}"));
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    let json = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {answer:?}"));
    (status, json)
}

#[tokio::test]
async fn exponential_type_patterns_in_filters_answer_at_once_and_others_keep_being_served() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let room_id = server.create_room(&alice, json!({})).await;
    let long_type = "a".repeat(60);
    let (status, _) = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room_id}/send/{long_type}/t1"),
            Some(&alice.access_token),
            json!({ "x": 1 }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let pattern = format!("{}b", "a*".repeat(30));
    let filter = json!({ "room": { "timeline": { "not_types": [pattern], "limit": 50 } } });
    let encoded = crate::filters::encode(&filter);

    let started = Instant::now();
    // Two at once pinned both cores before; now each is one linear pass per event.
    let sync_path = format!("/_matrix/client/v3/sync?filter={encoded}");
    let messages_path =
        format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&filter={encoded}");
    let (sync, messages) = tokio::join!(
        server.get(&sync_path, Some(&alice.access_token)),
        server.get(&messages_path, Some(&alice.access_token)),
    );
    assert_eq!(sync.0, StatusCode::OK, "{}", sync.1);
    assert_eq!(messages.0, StatusCode::OK, "{}", messages.1);
    // The event of 60 `a`s does not match `a*…*b`, so it is shown.
    let kinds: Vec<&str> = messages.1["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .filter_map(|event| event["type"].as_str())
        .collect();
    assert!(kinds.contains(&long_type.as_str()), "{kinds:?}");
    let (search_status, _) = server
        .post(
            "/_matrix/client/v3/search",
            Some(&alice.access_token),
            json!({ "search_categories": { "room_events": {
                "search_term": "x", "filter": { "types": [format!("{}b", "a*".repeat(30))] }
            } } }),
        )
        .await;
    assert_eq!(search_status, StatusCode::OK);
    // Generous bound: the old matcher never finished at 30 stars.
    assert!(started.elapsed() < Duration::from_secs(20));

    // A stored filter of the same kind is accepted and served as fast.
    let (status, created) = server
        .post(
            &format!("/_matrix/client/v3/user/{}/filter", alice.user_id),
            Some(&alice.access_token),
            filter.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
}

#[tokio::test]
async fn filters_too_complex_to_prepare_are_refused_with_a_clear_error() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let patterns: Vec<String> = (0..20_000).map(|index| format!("x{index}*y*z*w")).collect();
    let filter = json!({ "room": { "timeline": { "types": patterns } } });
    assert_error(
        &server
            .post(
                &format!("/_matrix/client/v3/user/{}/filter", alice.user_id),
                Some(&alice.access_token),
                filter,
            )
            .await,
        StatusCode::BAD_REQUEST,
        "M_INVALID_PARAM",
    );
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_refused_before_the_body_arrives() {
    let server = TestServer::start_with(|config| config.media.max_upload_bytes = 50 << 20).await;
    let alice = server.register("alice").await;
    let token = &alice.access_token;
    let cases = [
        format!(
            "PUT /_matrix/client/v3/user/{}/account_data/org.example.big HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: 10737418240\r\n\r\n",
            alice.user_id
        ),
        format!(
            "POST /_matrix/media/v3/upload HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\ncontent-type: image/png\r\ncontent-length: {}\r\n\r\n",
            60u64 << 20
        ),
    ];
    for request in cases {
        // No body byte is ever sent: the answer must come from the header alone.
        let answer = exchange(&server, request.as_bytes(), Duration::from_secs(10)).await;
        let (status, body) = parse_answer(&answer);
        assert_eq!(status, 413, "{answer}");
        assert_eq!(body["errcode"], "M_TOO_LARGE");
    }
    assert_error(
        &server
            .get(
                &format!(
                    "/_matrix/client/v3/user/{}/account_data/org.example.big",
                    alice.user_id
                ),
                Some(token),
            )
            .await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
}

#[tokio::test]
async fn a_refused_upload_still_being_sent_is_answered_not_reset() {
    let server = TestServer::start_with(|config| config.media.max_upload_bytes = 1 << 20).await;
    let alice = server.register("alice").await;
    // reqwest sends the whole 4 MiB body; the answer must still be readable.
    let response = server
        .http
        .post(format!("{}/_matrix/media/v3/upload", server.url))
        .bearer_auth(&alice.access_token)
        .header("content-type", "application/octet-stream")
        .body(vec![0u8; 4 << 20])
        .send()
        .await
        .expect("the answer arrives");
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["errcode"], "M_TOO_LARGE");
}

#[tokio::test]
async fn an_over_long_uri_gets_a_json_error() {
    let server = TestServer::start().await;
    let path = format!("/_matrix/client/v3/profile/{}", "a".repeat(130 * 1024));
    let request = format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n");
    let answer = exchange(&server, request.as_bytes(), Duration::from_secs(10)).await;
    let (status, body) = parse_answer(&answer);
    assert_eq!(status, 414, "{answer}");
    assert_eq!(body["errcode"], "M_TOO_LARGE");
    assert!(body["error"].is_string());
    // Headers too large for the parser get the same treatment.
    let request = format!(
        "GET /_matrix/client/versions HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "b".repeat(1 << 20)
    );
    let answer = exchange(&server, request.as_bytes(), Duration::from_secs(10)).await;
    let (status, body) = parse_answer(&answer);
    assert!(status == 431 || status == 400, "{answer}");
    assert!(body["errcode"].is_string(), "{answer}");
}

#[tokio::test]
async fn idle_and_half_sent_connections_are_closed_and_cannot_crowd_out_real_clients() {
    let server = TestServer::start_with(|config| {
        config.client.max_connections = 100;
        config.client.header_timeout_secs = 2;
        config.client.body_timeout_secs = 2;
    })
    .await;
    let alice = server.register("alice").await;
    let address = server.server().client_addr;

    // Far more idle connections than the cap: the idlest make room for newer ones.
    let mut idle = Vec::new();
    for _ in 0..1000 {
        idle.push(TcpStream::connect(address).await.expect("connect"));
    }
    // A real client on a new connection is still served, and so is its long-poll.
    let started = Instant::now();
    let (status, body) = server
        .get(
            "/_matrix/client/v3/sync?timeout=0",
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["next_batch"].is_string());
    assert!(started.elapsed() < Duration::from_secs(10));
    // The cap held: the idlest connections were closed to make room.
    assert!(metric(&server, "myelin_client_connections_evicted_total").await >= 800);
    assert!(metric(&server, "myelin_client_connections_open").await <= 110);

    // A connection that never finishes its headers is closed after the header timeout.
    let mut partial_headers = TcpStream::connect(address).await.expect("connect");
    partial_headers
        .write_all(b"GET /_matrix/client/versions HTTP/1.1\r\nhost: x\r\n")
        .await
        .expect("write");
    let started = Instant::now();
    let closed = read_for(&mut partial_headers, Duration::from_secs(15)).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "closed after the header timeout, not left open ({closed:?})"
    );

    // A body that stalls fails its request after the body timeout, with a JSON error.
    let request = format!(
        "PUT /_matrix/client/v3/user/{}/account_data/org.example.slow HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"a\":",
        alice.user_id, alice.access_token
    );
    let started = Instant::now();
    let answer = exchange(&server, request.as_bytes(), Duration::from_secs(15)).await;
    let (status, body) = parse_answer(&answer);
    assert!((400..500).contains(&status), "{answer}");
    assert!(body["errcode"].is_string());
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(idle);
}

#[tokio::test]
async fn a_request_past_its_deadline_is_answered_with_an_error() {
    let server = TestServer::start_with(|config| config.client.request_timeout_secs = 1).await;
    let alice = server.register("alice").await;
    let first = server.sync(&alice, None, 0).await;
    let since = first["next_batch"].as_str().expect("next_batch");
    let started = Instant::now();
    let (status, body) = server
        .get(
            &format!("/_matrix/client/v3/sync?since={since}&timeout=20000"),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["errcode"], "M_UNKNOWN");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn unknown_rooms_and_impossible_server_names_are_4xx_not_500() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let token = Some(alice.access_token.as_str());
    let own = server.server_name();
    assert_error(
        &server
            .get(
                &format!("/_matrix/client/v1/rooms/!nowhere:{own}/hierarchy"),
                token,
            )
            .await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
    let (status, body) = server
        .post(
            &format!("/_matrix/client/v3/join/!nowhere:{own}"),
            token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let impossible = "!a:256.256.256.256";
    for (method, path) in [
        (
            "GET",
            format!("/_matrix/client/v1/rooms/{impossible}/hierarchy"),
        ),
        ("POST", format!("/_matrix/client/v3/join/{impossible}")),
        ("POST", format!("/_matrix/client/v3/knock/{impossible}")),
    ] {
        let result = match method {
            "GET" => server.get(&path, token).await,
            _ => server.post(&path, token, json!({})).await,
        };
        assert_error(&result, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
    }
}

#[tokio::test]
async fn denied_addresses_are_refused_alike_for_media_and_profiles() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let token = Some(alice.access_token.as_str());
    for path in [
        "/_matrix/client/v1/media/download/127.0.0.1:9/abcdef",
        "/_matrix/client/v1/media/thumbnail/127.0.0.1:9/abcdef?width=32&height=32",
        "/_matrix/client/v3/profile/@bob:127.0.0.1:9",
    ] {
        assert_error(
            &server.get(path, token).await,
            StatusCode::FORBIDDEN,
            "M_FORBIDDEN",
        );
    }
}

#[tokio::test]
async fn duplicate_keys_in_a_body_are_refused() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let localpart = alice
        .user_id
        .trim_start_matches('@')
        .split(':')
        .next()
        .expect("localpart");
    let body = format!(
        r#"{{"type": "m.login.password", "identifier": {{"type": "m.id.user", "user": "{localpart}"}}, "password": "wrong", "password": "{}"}}"#,
        crate::common::PASSWORD
    );
    let result = server
        .raw(
            reqwest::Method::POST,
            "/_matrix/client/v3/login",
            None,
            body,
        )
        .await;
    assert_error(&result, StatusCode::BAD_REQUEST, "M_BAD_JSON");
}

#[tokio::test]
async fn device_keys_of_the_wrong_shape_are_refused_and_never_served() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let keys = json!({
        "user_id": alice.user_id,
        "device_id": alice.device_id,
        "algorithms": [1, 2],
        "keys": { format!("ed25519:{}", alice.device_id): 12345 },
        "signatures": {},
    });
    assert_error(
        &server
            .post(
                "/_matrix/client/v3/keys/upload",
                Some(&alice.access_token),
                json!({ "device_keys": keys }),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "M_BAD_JSON",
    );
    assert_error(
        &server
            .post(
                "/_matrix/client/v3/keys/upload",
                Some(&alice.access_token),
                json!({ "one_time_keys": { "signed_curve25519:A": { "key": 7 } } }),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "M_BAD_JSON",
    );
    let (status, queried) = server
        .post(
            "/_matrix/client/v3/keys/query",
            Some(&bob.access_token),
            json!({ "device_keys": { alice.user_id.clone(): [] } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        queried["device_keys"][&alice.user_id]
            .as_object()
            .is_none_or(|devices| devices.is_empty()),
        "{queried}"
    );
}

#[tokio::test]
async fn state_events_of_the_wrong_shape_are_refused_and_change_nothing() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let room_id = server
        .create_room(&alice, json!({ "name": "Original" }))
        .await;
    let token = Some(alice.access_token.as_str());
    for (kind, content) in [
        ("m.room.name", json!({ "name": 7 })),
        ("m.room.join_rules", json!({ "join_rule": 7 })),
        ("m.room.power_levels", json!({ "users_default": "0" })),
    ] {
        assert_error(
            &server
                .put(
                    &format!("/_matrix/client/v3/rooms/{room_id}/state/{kind}/"),
                    token,
                    content,
                )
                .await,
            StatusCode::BAD_REQUEST,
            "M_BAD_JSON",
        );
    }
    let (_, name) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.name/"),
            token,
        )
        .await;
    assert_eq!(name["name"], "Original");
    let (_, join_rules) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.join_rules/"),
            token,
        )
        .await;
    assert!(join_rules["join_rule"].is_string(), "{join_rules}");
}

/// A metric of the `/_myelin/metrics` text.
async fn metric(server: &TestServer, name: &str) -> i64 {
    let (_, text) = server.get("/_myelin/metrics", None).await;
    let text = text.as_str().expect("metrics are text").to_owned();
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in the metrics"))
}

#[tokio::test]
async fn a_request_ends_when_its_client_goes_away() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let first = server.sync(&alice, None, 0).await;
    let since = first["next_batch"].as_str().expect("next_batch");
    // Only the metrics request itself is in flight.
    assert_eq!(metric(&server, "myelin_client_requests_in_flight").await, 1);
    let mut long_poll = TcpStream::connect(server.server().client_addr)
        .await
        .expect("connect");
    let request = format!(
        "GET /_matrix/client/v3/sync?since={since}&timeout=250000 HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\n\r\n",
        alice.access_token
    );
    long_poll
        .write_all(request.as_bytes())
        .await
        .expect("write");
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&server, "myelin_client_requests_in_flight").await < 2 {
        assert!(Instant::now() < deadline, "the long-poll never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(long_poll);
    while metric(&server, "myelin_client_requests_in_flight").await > 1 {
        assert!(
            Instant::now() < deadline,
            "the long-poll kept running after its client left"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(metric(&server, "myelin_client_connections_open").await >= 1);
}

/// Kept refused as before: a PDU naming thousands of `prev_events` or `auth_events` (which
/// would make the receiver fetch or walk them all) is refused on its own, correctly signed.
#[tokio::test]
async fn pdus_with_thousands_of_prev_or_auth_events_are_refused() {
    use crate::federation_helpers::{send_transaction, setup};
    let (a, b, _, bob, room_id) = setup().await;
    let rooms = &b.server().services().rooms;
    let room = ruma::RoomId::parse(&room_id).expect("room id");
    let sender = ruma::UserId::parse(&bob.user_id).expect("user id");
    let spec = myelin_core::rooms::EventSpec::message(
        "m.room.message",
        json!({ "msgtype": "m.text", "body": "so many parents" }),
    );
    let mut pdus = Vec::new();
    for field in ["prev_events", "auth_events"] {
        let (version, mut template) = rooms
            .event_template(&room, &sender, &spec)
            .expect("template");
        // Short ids, so the event stays under the 64 KiB PDU limit and only the count is wrong.
        let many: Vec<ruma::CanonicalJsonValue> = (0..2000)
            .map(|index| ruma::CanonicalJsonValue::String(format!("$e{index}")))
            .collect();
        template.insert(field.into(), ruma::CanonicalJsonValue::Array(many));
        let event = rooms.sign_template(&version, template).expect("signed");
        pdus.push(serde_json::to_value(&event.object).expect("json"));
    }
    let (status, body) = send_transaction(&b, &a, pdus, None).await;
    // The transaction is answered (or refused whole); neither PDU is accepted.
    if status == StatusCode::OK {
        let results = body["pdus"].as_object().expect("pdus");
        assert_eq!(results.len(), 2, "{body}");
        assert!(
            results.values().all(|result| result["error"].is_string()),
            "{body}"
        );
    } else {
        assert!(status.is_client_error(), "{status} {body}");
        assert!(body["errcode"].is_string(), "{body}");
    }
    let (_, messages) = a
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=50"),
            None,
        )
        .await;
    assert!(!messages.to_string().contains("so many parents"));
}

#[tokio::test]
async fn deeply_nested_json_is_refused_without_overflowing_the_stack() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let body = format!("{{\"a\": {}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
    let result = server
        .raw(
            reqwest::Method::PUT,
            &format!(
                "/_matrix/client/v3/user/{}/account_data/org.example.deep",
                alice.user_id
            ),
            Some(&alice.access_token),
            body,
        )
        .await;
    assert_eq!(result.0, StatusCode::BAD_REQUEST, "{}", result.1);
    assert!(result.1["errcode"].is_string());
}
