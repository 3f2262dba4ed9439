//! `POST /_matrix/client/v3/keys/query`

use std::collections::BTreeMap;

use axum::{Json, extract::State};
use ruma::{OwnedDeviceId, OwnedServerName, OwnedUserId, api::client::keys::get_keys::v3};
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
    let mut remote: BTreeMap<OwnedServerName, BTreeMap<OwnedUserId, Vec<OwnedDeviceId>>> =
        BTreeMap::new();
    for (user_id, devices) in &request.body.device_keys {
        if users.is_local(user_id) {
            device_keys.insert(
                user_id.to_string(),
                json!(users.device_keys(user_id, devices)?),
            );
        } else {
            remote
                .entry(user_id.server_name().to_owned())
                .or_default()
                .insert(user_id.clone(), devices.clone());
        }
    }
    let mut failures = Map::new();
    for (server, wanted) in remote {
        let answer = match state.services.federation.get() {
            Ok(federation) => federation.query_keys(&server, wanted).await,
            Err(error) => Err(error),
        };
        match answer {
            Ok(answer) => super::merge_own_users(&mut device_keys, &server, &answer["device_keys"]),
            Err(error) => {
                failures.insert(server.to_string(), json!({ "error": error.to_string() }));
            }
        }
    }
    Ok(Json(
        json!({ "device_keys": device_keys, "failures": failures }),
    ))
}
