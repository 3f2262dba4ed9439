//! Encryption keys of this server's users, for other servers: device lists, device keys and
//! one-time key claims.

use axum::{Json, extract::State};
use myelin_core::{Error, users::KeyUsage};
use ruma::api::federation::{
    device::get_devices,
    keys::{claim_keys, get_keys},
};
use serde_json::{Map, Value as JsonValue, json};

use super::{FedResult, Signed};

/// # `POST /_matrix/federation/v1/user/keys/query`
pub async fn query_keys(
    State(state): State<super::State>,
    request: Signed<get_keys::v1::Request>,
) -> FedResult<Json<JsonValue>> {
    let users = &state.services.users;
    let mut device_keys = Map::new();
    let mut master_keys = Map::new();
    let mut self_signing_keys = Map::new();
    for (user_id, devices) in &request.body.device_keys {
        if !users.is_local(user_id) {
            continue;
        }
        let keys = users.device_keys(user_id, devices)?;
        device_keys.insert(user_id.to_string(), json!(keys));
        if let Some(key) = users.cross_signing_key(user_id, KeyUsage::Master, None)? {
            master_keys.insert(user_id.to_string(), key);
        }
        if let Some(key) = users.cross_signing_key(user_id, KeyUsage::SelfSigning, None)? {
            self_signing_keys.insert(user_id.to_string(), key);
        }
    }
    Ok(Json(json!({
        "device_keys": device_keys,
        "master_keys": master_keys,
        "self_signing_keys": self_signing_keys,
    })))
}

/// # `POST /_matrix/federation/v1/user/keys/claim`
pub async fn claim_keys(
    State(state): State<super::State>,
    request: Signed<claim_keys::v1::Request>,
) -> FedResult<Json<JsonValue>> {
    let users = &state.services.users;
    let mut claimed = Map::new();
    for (user_id, devices) in &request.body.one_time_keys {
        if !users.is_local(user_id) {
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
        // Users with nothing to hand out are left out, as Synapse does [Complement
        // TestFederationKeyUploadQuery, claiming twice].
        if !per_device.is_empty() {
            claimed.insert(user_id.to_string(), JsonValue::Object(per_device));
        }
    }
    Ok(Json(json!({ "one_time_keys": claimed })))
}

/// # `GET /_matrix/federation/v1/user/devices/{userId}`
pub async fn devices(
    State(state): State<super::State>,
    request: Signed<get_devices::v1::Request>,
) -> FedResult<Json<JsonValue>> {
    let users = &state.services.users;
    let user_id = &request.body.user_id;
    if !users.is_local(user_id) || users.account(user_id)?.is_none() {
        return Err(Error::NotFound("Unknown user".into()).into());
    }
    let keys = users.device_keys(user_id, &[])?;
    let devices: Vec<JsonValue> = users
        .devices(user_id)?
        .into_iter()
        .filter_map(|device| {
            let keys = keys.get(device.device_id.as_str())?.clone();
            let mut entry = json!({ "device_id": device.device_id, "keys": keys });
            if let Some(name) = device.display_name {
                entry["device_display_name"] = name.into();
            }
            Some(entry)
        })
        .collect();
    let mut answer = json!({
        "user_id": user_id,
        "stream_id": state.services.notifier.current(),
        "devices": devices,
    });
    if let Some(key) = users.cross_signing_key(user_id, KeyUsage::Master, None)? {
        answer["master_key"] = key;
    }
    if let Some(key) = users.cross_signing_key(user_id, KeyUsage::SelfSigning, None)? {
        answer["self_signing_key"] = key;
    }
    Ok(Json(answer))
}
