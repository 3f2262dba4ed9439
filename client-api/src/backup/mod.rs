//! Server-side key backup (`/room_keys`): backup versions and the encrypted room keys clients
//! keep in them. The handlers only decode and encode; `myelin_core::users` keeps the rules.
pub mod add_backup_keys;
pub mod add_backup_keys_for_room;
pub mod add_backup_keys_for_session;
pub mod create_backup_version;
pub mod delete_backup_keys;
pub mod delete_backup_keys_for_room;
pub mod delete_backup_keys_for_session;
pub mod delete_backup_version;
pub mod get_backup_info;
pub mod get_backup_keys;
pub mod get_backup_keys_for_room;
pub mod get_backup_keys_for_session;
pub mod get_latest_backup_info;
pub mod update_backup_version;

use myelin_core::users::{BackupInfo, BackupKeysState};
use serde_json::{Value as JsonValue, json};

use crate::ApiError;

/// Decodes a raw JSON value of the request.
fn parse<T>(raw: &ruma::serde::Raw<T>) -> Result<JsonValue, ApiError> {
    serde_json::from_str(raw.json().get()).map_err(|error| ApiError::bad_json(error.to_string()))
}

/// The `algorithm` and `auth_data` of a version body.
fn algorithm_and_auth_data(body: &JsonValue) -> Result<(String, JsonValue), ApiError> {
    let algorithm = body
        .get("algorithm")
        .and_then(JsonValue::as_str)
        .ok_or_else(|| ApiError::bad_json("algorithm must be a string"))?;
    let auth_data = body
        .get("auth_data")
        .cloned()
        .ok_or_else(|| ApiError::bad_json("auth_data is required"))?;
    Ok((algorithm.to_owned(), auth_data))
}

/// `{etag, count}` after keys changed.
fn keys_state(state: BackupKeysState) -> JsonValue {
    json!({ "etag": state.etag.to_string(), "count": state.count })
}

/// A version as `GET /room_keys/version` shows it.
fn version_info(info: BackupInfo) -> JsonValue {
    json!({
        "version": info.version,
        "algorithm": info.algorithm,
        "auth_data": info.auth_data,
        "etag": info.etag,
        "count": info.count,
    })
}
