//! What passes between Myelin and the peer: the requests the peer records (their targets as
//! received, decoded for matching), the replies scripts give, and percent-encoding.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// What a script answers.
pub(crate) struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl Reply {
    pub(crate) fn json(body: Value) -> Self {
        Self {
            status: StatusCode::OK,
            body,
        }
    }

    pub(crate) fn not_found(what: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            body: json!({ "errcode": "M_NOT_FOUND", "error": what }),
        }
    }

    /// The answer of a server that does not have the endpoint.
    pub(crate) fn unrecognized() -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            body: json!({ "errcode": "M_UNRECOGNIZED", "error": "Unrecognized request" }),
        }
    }
}

/// One request the peer received.
#[derive(Debug, Clone)]
pub(crate) struct RecordedRequest {
    pub method: Method,
    /// The request target as received: path and query, percent-encoding untouched.
    pub uri: String,
    /// The path's segments, percent-decoded.
    pub segments: Vec<String>,
    /// The query's pairs, decoded.
    pub query: Vec<(String, String)>,
    /// The JSON body (`Null` when empty, a string when not JSON).
    pub body: Value,
}

impl RecordedRequest {
    pub(super) fn new(method: Method, uri: &str, body: &[u8]) -> Self {
        let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
        let body = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
        };
        Self {
            method,
            uri: uri.to_owned(),
            segments: path.split('/').skip(1).map(percent_decode).collect(),
            query: query
                .split('&')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                    let form = |text: &str| percent_decode(&text.replace('+', " "));
                    (form(name), form(value))
                })
                .collect(),
            body,
        }
    }

    /// Whether this is `method` on a path like `pattern`, whose `*` segments match any one
    /// (decoded) segment: `/_matrix/federation/v1/event/*`.
    pub(crate) fn matches(&self, method: &Method, pattern: &str) -> bool {
        let wanted: Vec<&str> = pattern.split('/').skip(1).collect();
        self.method == method
            && wanted.len() == self.segments.len()
            && wanted
                .iter()
                .zip(&self.segments)
                .all(|(wanted, segment)| *wanted == "*" || wanted == segment)
    }

    pub(crate) fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Every value of a repeated query parameter (`ver` of `make_join`).
    pub(crate) fn query_values(&self, name: &str) -> Vec<String> {
        self.query
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .collect()
    }

    pub(super) fn segment(&self, index: usize) -> &str {
        self.segments.get(index).map_or("", String::as_str)
    }
}

/// Decodes `%XX` escapes (a malformed escape is kept as it is).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = (bytes[index] == b'%')
            .then(|| text.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                index += 3;
            }
            None => {
                decoded.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// Percent-encodes everything but the unreserved characters: an id as a path segment or query
/// value of a client request.
pub(crate) fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(byte).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}
