//! The peer's checks of what other servers send it, written apart from ruma's and Myelin's own
//! verification so that they can disagree: the `X-Matrix` signature of a request as
//! gomatrixserverlib's `VerifyHTTPRequest` (Complement's servers) checks it, and the signatures
//! of PDUs.

use std::collections::BTreeMap;

use ruma::{
    SigningKeyAlgorithm,
    serde::Base64,
    signatures::{
        PublicKeyMap, PublicKeySet, verify_canonical_json_bytes, verify_event, verify_json,
    },
};
use serde_json::Value;

use super::{Inner, room::to_canonical};

/// One `Authorization: X-Matrix …` header, parsed as gomatrixserverlib's `ParseAuthorization`
/// does: the parameters split on `,` then on the first `=`, quotes trimmed, names taken as they
/// are (no whitespace is trimmed, so `key="…", sig="…"` loses `sig`).
#[derive(Debug, Default)]
struct Authorization {
    origin: String,
    destination: String,
    key: String,
    sig: String,
}

fn parse_authorization(header: &str) -> Option<Authorization> {
    let (scheme, parameters) = header.split_once(' ')?;
    if scheme != "X-Matrix" {
        return None;
    }
    let mut authorization = Authorization::default();
    for parameter in parameters.split(',') {
        let Some((name, value)) = parameter.split_once('=') else {
            continue;
        };
        let value = value.trim_matches('"').to_owned();
        match name {
            "origin" => authorization.origin = value,
            "destination" => authorization.destination = value,
            "key" => authorization.key = value,
            "sig" => authorization.sig = value,
            _ => {}
        }
    }
    Some(authorization)
}

/// Checks the `X-Matrix` signature of a request as it came off the wire: `uri` is the request
/// target exactly as received (path and query, percent-encoding untouched).
pub(super) async fn check_request(
    inner: &Inner,
    method: &str,
    uri: &str,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<(), String> {
    // gomatrixserverlib compares the header with this exact string.
    if !body.is_empty() {
        let content_type = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        if content_type != "application/json" {
            return Err(format!(
                "a request with a body must be \"application/json\", not {content_type:?}"
            ));
        }
    }
    let authorizations: Vec<Authorization> = headers
        .get_all(http::header::AUTHORIZATION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(parse_authorization)
        .collect();
    let Some(authorization) = authorizations.first() else {
        return Err("no X-Matrix Authorization header".into());
    };
    if authorization.origin.is_empty()
        || authorization.key.is_empty()
        || authorization.sig.is_empty()
    {
        return Err(format!(
            "incomplete X-Matrix authorization: {authorization:?}"
        ));
    }
    let own_name = inner.server_name.as_str();
    if !authorization.destination.is_empty() && authorization.destination != own_name {
        return Err(format!(
            "destination {:?} is not this server ({own_name})",
            authorization.destination
        ));
    }
    let content = if body.is_empty() {
        String::new()
    } else {
        let content: Value = serde_json::from_slice(body)
            .map_err(|error| format!("the body is not JSON: {error}"))?;
        format!("\"content\":{},", canonical_json(&content)?)
    };
    let signed = format!(
        "{{{content}\"destination\":{destination},\"method\":{method},\"origin\":{origin},\"uri\":{uri}}}",
        destination = canonical_json(&Value::from(own_name))?,
        method = canonical_json(&Value::from(method))?,
        origin = canonical_json(&Value::from(authorization.origin.as_str()))?,
        uri = canonical_json(&Value::from(uri))?,
    );
    let keys = inner.keys_of(&authorization.origin).await?;
    let public_key = keys.get(&authorization.key).ok_or_else(|| {
        format!(
            "{} has no key {} (it publishes {:?})",
            authorization.origin,
            authorization.key,
            keys.keys().collect::<Vec<_>>()
        )
    })?;
    let signature = Base64::<ruma::serde::base64::Standard>::parse(&authorization.sig)
        .map_err(|error| format!("the signature is not base64: {error}"))?;
    verify_canonical_json_bytes(
        &SigningKeyAlgorithm::Ed25519,
        public_key.as_bytes(),
        signature.as_bytes(),
        signed.as_bytes(),
    )
    .map_err(|error| format!("Invalid request signature: {error}; signed JSON was {signed}"))
}

/// Checks the hashes and the signatures a PDU needs (those of its sender's server).
pub(super) async fn check_pdu(
    inner: &Inner,
    pdu: &Value,
    rules: &ruma::room_version_rules::RoomVersionRules,
) -> Result<(), String> {
    let sender_server = pdu["sender"]
        .as_str()
        .and_then(|sender| sender.split_once(':'))
        .map(|(_, server)| server.to_owned())
        .ok_or("the PDU has no sender")?;
    let keys = inner.keys_of(&sender_server).await?;
    let map: PublicKeyMap = BTreeMap::from([(sender_server, keys)]);
    match verify_event(&map, &to_canonical(pdu.clone()), rules) {
        Ok(ruma::signatures::Verified::All) => Ok(()),
        Ok(ruma::signatures::Verified::Signatures) => Err("the content hash does not match".into()),
        Err(error) => Err(format!("PDU signature: {error}")),
    }
}

impl Inner {
    /// The keys a server publishes at `GET /_matrix/key/v2/server` (its self-signature checked),
    /// fetched once. Servers in these tests are `localhost:<port>` or `127.0.0.1:<port>`.
    pub(super) async fn keys_of(&self, server: &str) -> Result<PublicKeySet, String> {
        if let Some(keys) = myelin_core::lock(&self.remote_keys).get(server) {
            return Ok(keys.clone());
        }
        let port = server
            .rsplit_once(':')
            .and_then(|(_, port)| port.parse::<u16>().ok())
            .ok_or_else(|| format!("{server} has no port; only loopback servers are supported"))?;
        let response = self
            .http
            .get(format!("https://127.0.0.1:{port}/_matrix/key/v2/server"))
            .send()
            .await
            .map_err(|error| format!("fetching the keys of {server}: {error}"))?;
        let document: Value = response
            .json()
            .await
            .map_err(|error| format!("the key document of {server}: {error}"))?;
        if document["server_name"] != server {
            return Err(format!(
                "{server} published keys for {}",
                document["server_name"]
            ));
        }
        let mut keys = PublicKeySet::new();
        for (key_id, key) in document["verify_keys"].as_object().into_iter().flatten() {
            let key = key["key"]
                .as_str()
                .and_then(|key| Base64::parse(key).ok())
                .ok_or_else(|| format!("{server} key {key_id} is not base64"))?;
            keys.insert(key_id.clone(), key);
        }
        let map: PublicKeyMap = BTreeMap::from([(server.to_owned(), keys.clone())]);
        verify_json(&map, &to_canonical(document)).map_err(|error| {
            format!("the key document of {server} is not signed by its keys: {error}")
        })?;
        myelin_core::lock(&self.remote_keys).insert(server.to_owned(), keys.clone());
        Ok(keys)
    }
}

/// Canonical JSON as the spec's appendix defines it, written here rather than taken from ruma
/// (which Myelin signs with) so that the two can disagree: keys sorted by code point, no
/// whitespace, integers only, strings as UTF-8 with only `"`, `\` and the control characters
/// escaped (the short forms where they exist, else `\u00xx` in lower case).
pub(super) fn canonical_json(value: &Value) -> Result<String, String> {
    let mut out = String::new();
    write_canonical(value, &mut out)?;
    Ok(out)
}

fn write_canonical(value: &Value, out: &mut String) -> Result<(), String> {
    const SAFE_INTEGER: i64 = (1 << 53) - 1;
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Value::Number(number) => match number.as_i64() {
            Some(integer) if (-SAFE_INTEGER..=SAFE_INTEGER).contains(&integer) => {
                out.push_str(&integer.to_string());
            }
            _ => return Err(format!("{number} is not a canonical JSON integer")),
        },
        Value::String(text) => write_string(text, out),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical(item, out)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            // Rust orders `str` by bytes, which for UTF-8 is code point order.
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|left, right| left.0.cmp(right.0));
            out.push('{');
            for (index, (key, item)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_canonical(item, out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

fn write_string(text: &str, out: &mut String) {
    out.push('"');
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            control if u32::from(control) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", u32::from(control)));
            }
            other => out.push(other),
        }
    }
    out.push('"');
}

#[test]
fn canonical_json_follows_the_spec_examples() {
    let cases = [
        (serde_json::json!({}), "{}"),
        (
            serde_json::json!({ "one": 1, "two": "Two" }),
            r#"{"one":1,"two":"Two"}"#,
        ),
        (
            serde_json::json!({ "b": "2", "a": "1" }),
            r#"{"a":"1","b":"2"}"#,
        ),
        (
            serde_json::json!({ "本": 2, "日": 1 }),
            r#"{"日":1,"本":2}"#,
        ),
        (serde_json::json!({ "a": "\u{65e5}" }), "{\"a\":\"日\"}"),
        (serde_json::json!({ "a": null }), r#"{"a":null}"#),
        (
            serde_json::json!({ "a": "\u{1}\u{1f}\u{7f}\u{2028}\"\\/" }),
            "{\"a\":\"\\u0001\\u001f\u{7f}\u{2028}\\\"\\\\/\"}",
        ),
    ];
    for (value, expected) in cases {
        assert_eq!(canonical_json(&value).expect("canonical"), expected);
    }
    assert!(canonical_json(&serde_json::json!(1.5)).is_err());
    assert!(canonical_json(&serde_json::json!(1u64 << 53)).is_err());
}

/// The peer's check notices what Complement's would: a request target other than the signed one,
/// other content, a body not labelled `application/json`; JSON written differently is the same
/// content.
#[tokio::test(flavor = "multi_thread")]
async fn the_peer_notices_requests_that_differ_from_what_was_signed() {
    use reqwest::Method;
    use serde_json::json;

    use super::{ScriptedPeer, sending::SignedRequest};

    let peer = ScriptedPeer::start().await;
    let origin = ScriptedPeer::start().await;
    let port = peer
        .server_name()
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse::<u16>().ok())
        .expect("port");
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let content = json!({ "pdus": [], "b": "ü\u{2028}\u{1}", "a": [1, { "y": null, "x": "<>&" }] });
    let request = |path: &'static str| SignedRequest {
        destination: peer.server_name(),
        address,
        method: Method::PUT,
        path,
        body: serde_json::to_vec(&content).expect("json"),
    };
    let uri = |path: &str| format!("https://{address}{path}").parse().expect("uri");

    origin
        .send_signed(request("/_matrix/federation/v1/send/1?x=%41"), |_| {})
        .await;
    origin
        .send_signed(request("/_matrix/federation/v1/send/2"), |request| {
            *request.body_mut() = serde_json::to_vec_pretty(&content).expect("json");
        })
        .await;
    assert!(
        peer.signature_failures().is_empty(),
        "{:#?}",
        peer.signature_failures()
    );

    origin
        .send_signed(request("/_matrix/federation/v1/send/3?x=%41"), |request| {
            *request.uri_mut() = uri("/_matrix/federation/v1/send/3?x=A");
        })
        .await;
    origin
        .send_signed(request("/_matrix/federation/v1/send/4"), |request| {
            *request.body_mut() = br#"{"pdus":[],"a":[1]}"#.to_vec();
        })
        .await;
    origin
        .send_signed(request("/_matrix/federation/v1/send/5"), |request| {
            request.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json; charset=utf-8"),
            );
        })
        .await;
    let failures: Vec<(String, String)> = peer
        .signature_failures()
        .into_iter()
        .map(|failure| (failure.uri, failure.reason))
        .collect();
    assert_eq!(failures.len(), 3, "{failures:#?}");
    assert_eq!(failures[0].0, "/_matrix/federation/v1/send/3?x=A");
    assert!(
        failures[0].1.starts_with("Invalid request signature"),
        "{failures:#?}"
    );
    assert!(
        failures[1].1.starts_with("Invalid request signature"),
        "{failures:#?}"
    );
    assert!(failures[2].1.contains("application/json"), "{failures:#?}");
}
