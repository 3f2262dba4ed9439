//! End-to-end encryption key endpoints: devices upload their keys; others query and claim them,
//! through the users' servers for users elsewhere (servers that cannot answer are named under
//! `failures`).
pub mod claim_keys;
pub mod get_key_changes;
pub mod get_keys;
pub mod upload_keys;
pub mod upload_signatures;
pub mod upload_signing_keys;

use serde_json::{Map, Value as JsonValue};

/// Copies the entries of `answer` (keyed by user id) that belong to `server` into `into`: a
/// server answers only for its own users.
fn merge_own_users(
    into: &mut Map<String, JsonValue>,
    server: &ruma::ServerName,
    answer: &JsonValue,
) {
    let suffix = format!(":{server}");
    for (user, value) in answer.as_object().into_iter().flatten() {
        // An empty entry says nothing (an older server's way of saying "no keys").
        let empty = value.as_object().is_some_and(serde_json::Map::is_empty);
        if user.ends_with(&suffix) && !empty {
            into.insert(user.clone(), value.clone());
        }
    }
}
