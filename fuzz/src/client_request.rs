//! Client request bodies, decoded as `Ruma<T>` (client-api/src/extract.rs) decodes them, then
//! what the handlers do with a filter (client-api/src/filtering.rs).
//!
//! Input: a selector byte, then the body.
//! - 0: `POST /createRoom`
//! - 1: `POST /login`
//! - 2: `POST /user/{userId}/filter`, then the filter prepared and matched against events
//! - 3: `GET /sync?filter=<body>`, the inline filter, then the same
//! - 4: one type pattern against one event type (each at most 256 bytes, split at the first
//!   NUL byte), checked against a plain reference matcher

use std::{cell::Cell, sync::Once};

use http::Method;
use myelin_core::rooms::PduEvent;
use ruma::{
    EventId, UserId,
    api::{
        IncomingRequest, IncomingRequestExt as _,
        client::{
            filter::{FilterDefinition, create_filter},
            room::create_room,
            session::login,
            sync::sync_events,
        },
    },
};
use serde_json::Value as JsonValue;

use crate::filtering::{self, EventFilter, TypePatterns};

const USER: &str = "@alice:example.org";
/// Patterns and event types are bounded as a filter's are in practice (event types are at most
/// 255 bytes).
const MAX_PATTERN: usize = 256;

thread_local! {
    /// Set while a decoder runs inside the `catch_unwind` that mirrors `Ruma<T>`'s.
    static IN_MYELINS_CATCH: Cell<bool> = const { Cell::new(false) };
}

/// libFuzzer's panic hook aborts at once, before `catch_unwind` could see the panic; this one
/// lets a panic inside Myelin's wrapper unwind to it, as it does in the server.
fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let fuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_MYELINS_CATCH.with(Cell::get) {
                fuzzer_hook(info);
            }
        }));
    });
}

/// `Ruma<T>::from_request` less authentication: the body must be JSON (an empty one reads as
/// `{}` for POST and PUT), then ruma decodes it inside a `catch_unwind`.
pub fn decode<T: IncomingRequest>(
    method: Method,
    uri: &str,
    path_args: &[&str],
    body: &[u8],
) -> Option<(T, Option<JsonValue>)> {
    install_hook();
    let json = if body.is_empty() {
        None
    } else {
        Some(parse_json(body)?)
    };
    let body: &[u8] = if body.is_empty() && matches!(method, Method::POST | Method::PUT) {
        b"{}"
    } else {
        body
    };
    let request = http::Request::builder()
        .method(method)
        .uri(uri)
        .body(body)
        .ok()?;
    IN_MYELINS_CATCH.with(|flag| flag.set(true));
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        T::try_from_http_request(request, path_args)
    }));
    IN_MYELINS_CATCH.with(|flag| flag.set(false));
    decoded.ok()?.ok().map(|decoded| (decoded, json))
}

/// The extractor's JSON parse (`parse_json_body`: duplicate keys refused), which must agree with
/// `serde_json` on every body it accepts.
fn parse_json(body: &[u8]) -> Option<JsonValue> {
    let strict = myelin_client_api::parse_json_body(body).ok();
    let lenient = serde_json::from_slice::<JsonValue>(body).ok();
    if let Some(strict) = &strict {
        assert_eq!(
            Some(strict),
            lenient.as_ref(),
            "the strict parse agrees with serde_json"
        );
    }
    strict
}

/// A plain matcher for type patterns, `*` matching any run of characters: the table of which
/// pattern prefixes match which type prefixes.
pub fn reference_matches(pattern: &str, kind: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let kind: Vec<char> = kind.chars().collect();
    // row[j]: pattern[..i] matches kind[..j].
    let mut row = vec![false; kind.len() + 1];
    row[0] = true;
    for symbol in &pattern {
        let mut next = vec![false; kind.len() + 1];
        if *symbol == '*' {
            let mut reached = false;
            for j in 0..=kind.len() {
                reached |= row[j];
                next[j] = reached;
            }
        } else {
            for j in 1..=kind.len() {
                next[j] = row[j - 1] && kind[j - 1] == *symbol;
            }
        }
        row = next;
    }
    row[kind.len()]
}

fn bounded(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_PATTERN)]).into_owned()
}

fn event(kind: &str, sender: &str, content: &str) -> PduEvent {
    let json = serde_json::json!({
        "room_id": "!room:example.org",
        "sender": sender,
        "origin_server_ts": 1,
        "type": kind,
        "content": serde_json::from_str::<JsonValue>(content).expect("literal JSON"),
        "depth": 1,
    });
    PduEvent::from_json_bytes(
        EventId::parse("$event").expect("a valid event id"),
        &serde_json::to_vec(&json).expect("serialises"),
    )
    .expect("a valid PDU")
}

/// What `/sync` and `/messages` do with a filter: refuse it if its patterns cannot be prepared,
/// else check events against each part.
fn use_filter(filter: &FilterDefinition) {
    if filtering::check_definition(filter).is_err() {
        return;
    }
    let events = [
        event("m.room.message", USER, r#"{"body":"hi","url":"mxc://a/b"}"#),
        event(
            "m.room.member",
            "@bob:example.org",
            r#"{"membership":"join"}"#,
        ),
        event("org.example.custom", "@carol:other.example", "{}"),
    ];
    let room = &filter.room;
    for part in [
        &room.timeline,
        &room.state,
        &room.ephemeral,
        &room.account_data,
    ] {
        let prepared = EventFilter::new(part).expect("check_definition accepted it");
        for event in &events {
            let _ = prepared.passes_event(event);
        }
        let _ = prepared.lazy_loading();
    }
    let _ = filtering::room_passes(
        room.rooms.as_ref(),
        &room.not_rooms,
        ruma::room_id!("!room:example.org"),
    );
    let timeline: Vec<&PduEvent> = events.iter().take(1).collect();
    let user = UserId::parse(USER).expect("a valid user id");
    let _ = filtering::lazy_load_state(events.to_vec(), &timeline, &user);
}

pub fn run(data: &[u8]) {
    let Some((selector, body)) = data.split_first() else {
        return;
    };
    match selector % 5 {
        0 => {
            let _ = decode::<create_room::v3::Request>(
                Method::POST,
                "/_matrix/client/v3/createRoom",
                &[],
                body,
            );
        }
        1 => {
            let _ =
                decode::<login::v3::Request>(Method::POST, "/_matrix/client/v3/login", &[], body);
        }
        2 => {
            let uri = format!("/_matrix/client/v3/user/{USER}/filter");
            if let Some((request, _)) =
                decode::<create_filter::v3::Request>(Method::POST, &uri, &[USER], body)
            {
                use_filter(&request.filter);
            }
        }
        3 => {
            let Ok(text) = std::str::from_utf8(body) else {
                return;
            };
            let mut uri = String::from("/_matrix/client/v3/sync?filter=");
            uri.extend(percent_encode(text));
            if let Some((request, _)) =
                decode::<sync_events::v3::Request>(Method::GET, &uri, &[], b"")
                && let Some(sync_events::v3::Filter::FilterDefinition(filter)) = &request.filter
            {
                use_filter(filter);
            }
        }
        _ => {
            let (pattern, kind) = match body.iter().position(|byte| *byte == 0) {
                Some(at) => (bounded(&body[..at]), bounded(&body[at + 1..])),
                None => (bounded(body), String::new()),
            };
            let expected = reference_matches(&pattern, &kind);
            match TypePatterns::new(std::slice::from_ref(&pattern)) {
                Ok(patterns) => assert_eq!(
                    patterns.matches(&kind),
                    expected,
                    "pattern {pattern:?} against type {kind:?}"
                ),
                // A single pattern of at most 256 bytes is an ordinary filter.
                Err(_) => panic!("pattern {pattern:?} was refused"),
            }
        }
    }
}

/// Every byte but the unreserved ones percent-encoded, as a client puts JSON in a query.
fn percent_encode(text: &str) -> impl Iterator<Item = String> + '_ {
    text.bytes().map(|byte| {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            (byte as char).to_string()
        } else {
            format!("%{byte:02X}")
        }
    })
}
