//! `POST /_matrix/client/v3/keys/query`

use axum::{Json, extract::State};
use ruma::api::client::keys::get_keys::v3;
use serde_json::{Map, Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma};

/// # `POST /_matrix/client/v3/keys/query`
pub async fn get_keys(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    request.identity()?;
    let users = &state.services.users;
    let mut device_keys = Map::new();
    let mut failures = Map::new();
    for (user_id, devices) in &request.body.device_keys {
        if !users.is_local(user_id) {
            failures.insert(
                user_id.server_name().to_string(),
                json!({ "errcode": "M_UNRECOGNIZED", "error": "Keys of other servers' users are not fetched yet" }),
            );
            continue;
        }
        let keys = users.device_keys(user_id, devices)?;
        device_keys.insert(
            user_id.to_string(),
            serde_json::to_value(keys).unwrap_or_default(),
        );
    }
    Ok(Json(
        json!({ "device_keys": device_keys, "failures": failures }),
    ))
}
