//! `X-Matrix` authorization headers, as `Signed<T>` (federation/src/server/extract.rs) takes
//! them: the header parsed, the origin checked against the domain lists, the body read as JSON,
//! and the signature verified against the origin's key (`KeyService::verify_request`).
//!
//! Input: the header value, a newline, then the request body.

use std::sync::OnceLock;

use http::{HeaderMap, HeaderValue, Method, header::AUTHORIZATION};
use myelin_core::config::FederationConfig;
use myelin_federation::policy::Policy;
use ruma::{ServerName, api::federation::authentication::XMatrix, signatures::PublicKeyMap};

use crate::keys;

/// The request every header signs: a transaction.
pub const URI: &str = "/_matrix/federation/v1/send/fuzz";

fn fixed() -> &'static (Policy, PublicKeyMap) {
    static FIXED: OnceLock<(Policy, PublicKeyMap)> = OnceLock::new();
    FIXED.get_or_init(|| {
        let config = FederationConfig {
            domain_denylist: vec!["denied.example".into()],
            ..FederationConfig::default()
        };
        (
            Policy::from_config(&config).expect("the default ranges parse"),
            keys::public_key_map(),
        )
    })
}

pub fn run(data: &[u8]) {
    let (header, body) = match data.iter().position(|byte| *byte == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let Ok(value) = HeaderValue::from_bytes(header) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, value);
    let Ok(xmatrix) = XMatrix::extract_from_http_headers(&headers) else {
        return;
    };
    // What ruma renders of a parsed header parses back to the same header (Myelin signs its own
    // requests with that rendering).
    let rendered = HeaderValue::from(&xmatrix);
    let again = XMatrix::try_from(&rendered).expect("a rendered X-Matrix header parses");
    assert_eq!(again.origin, xmatrix.origin);
    assert_eq!(again.destination, xmatrix.destination);
    assert_eq!(again.key, xmatrix.key);
    assert_eq!(again.sig, xmatrix.sig);

    let (policy, map) = fixed();
    if !policy.server_allowed(&xmatrix.origin) {
        return;
    }
    if !body.is_empty() && serde_json::from_slice::<serde_json::Value>(body).is_err() {
        return;
    }
    let Ok(request) = http::Request::builder()
        .method(Method::PUT)
        .uri(URI)
        .body(body.to_vec())
    else {
        return;
    };
    let destination = <&ServerName>::try_from(keys::DESTINATION).expect("a valid server name");
    let verified = xmatrix.verify_http_request(&request, destination, map);
    if crate::debug() {
        eprintln!("{} {:?}", xmatrix.origin, verified);
    }
}
