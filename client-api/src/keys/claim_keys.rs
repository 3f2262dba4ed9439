//! `POST /_matrix/client/v3/keys/claim`

use std::collections::BTreeMap;

use axum::{Json, extract::State};
use ruma::{
    OneTimeKeyAlgorithm, OwnedDeviceId, OwnedServerName, OwnedUserId,
    api::client::keys::claim_keys::v3,
};
use serde_json::{Map, Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma};

type Claims = BTreeMap<OwnedUserId, BTreeMap<OwnedDeviceId, OneTimeKeyAlgorithm>>;

/// # `POST /_matrix/client/v3/keys/claim`
///
/// One one-time key per requested device, or the device's fallback key when none is left;
/// devices with neither are left out, as the spec asks.
pub async fn claim_keys(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    request.identity()?;
    let users = &state.services.users;
    let mut claimed = Map::new();
    let mut remote: BTreeMap<OwnedServerName, Claims> = BTreeMap::new();
    for (user_id, devices) in &request.body.one_time_keys {
        if !users.is_local(user_id) {
            remote
                .entry(user_id.server_name().to_owned())
                .or_default()
                .insert(user_id.clone(), devices.clone());
            continue;
        }
        let mut per_device = Map::new();
        for (device_id, algorithm) in devices {
            if let Some((key_id, key)) = users
                .claim_key(user_id, device_id, algorithm.as_str())
                .await?
            {
                per_device.insert(device_id.to_string(), json!({ key_id: key }));
            }
        }
        if !per_device.is_empty() {
            claimed.insert(user_id.to_string(), JsonValue::Object(per_device));
        }
    }
    let mut failures = Map::new();
    for (server, claims) in remote {
        let answer = match state.services.federation.get() {
            Ok(federation) => federation.claim_keys(&server, claims).await,
            Err(error) => Err(error),
        };
        match answer {
            Ok(answer) => super::merge_own_users(&mut claimed, &server, &answer["one_time_keys"]),
            Err(error) => {
                failures.insert(server.to_string(), json!({ "error": error.to_string() }));
            }
        }
    }
    Ok(Json(
        json!({ "one_time_keys": claimed, "failures": failures }),
    ))
}
