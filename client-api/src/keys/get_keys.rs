//! `POST /_matrix/client/v3/keys/query`

use std::collections::BTreeMap;

use axum::{Json, extract::State};
use myelin_core::users::{KeyUsage, RemoteKeys, cross_signing_public_key};
use ruma::{OwnedDeviceId, OwnedServerName, OwnedUserId, api::client::keys::get_keys::v3};
use serde_json::{Map, Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma};

/// The response's maps, one per kind of key, each keyed by user id.
#[derive(Default)]
struct QueriedKeys {
    device_keys: Map<String, JsonValue>,
    master_keys: Map<String, JsonValue>,
    self_signing_keys: Map<String, JsonValue>,
    user_signing_keys: Map<String, JsonValue>,
}

/// # `POST /_matrix/client/v3/keys/query`
///
/// Device keys and cross-signing keys, with the signatures the caller may see: everyone's on
/// their own keys, and the caller's own on other users' master keys. Users of other servers come
/// from the cache of their keys or from their servers; servers that cannot answer (with nothing
/// cached) are named under `failures`.
pub async fn get_keys(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let viewer = &request.identity()?.user_id;
    let users = &state.services.users;
    let mut found = QueriedKeys::default();
    let mut remote: BTreeMap<OwnedServerName, BTreeMap<OwnedUserId, Vec<OwnedDeviceId>>> =
        BTreeMap::new();
    for (user_id, devices) in &request.body.device_keys {
        if !users.is_local(user_id) {
            remote
                .entry(user_id.server_name().to_owned())
                .or_default()
                .insert(user_id.clone(), devices.clone());
            continue;
        }
        found.device_keys.insert(
            user_id.to_string(),
            json!(users.device_keys(user_id, devices)?),
        );
        for (usage, into) in [
            (KeyUsage::Master, &mut found.master_keys),
            (KeyUsage::SelfSigning, &mut found.self_signing_keys),
            (KeyUsage::UserSigning, &mut found.user_signing_keys),
        ] {
            if let Some(key) = users.cross_signing_key(user_id, usage, Some(viewer))? {
                into.insert(user_id.to_string(), key);
            }
        }
    }
    let mut failures = Map::new();
    for (server, wanted) in remote {
        let answer = match remote_keys(&state, &server, wanted).await {
            Ok(answer) => answer,
            Err(error) => {
                failures.insert(server.to_string(), json!({ "error": error.to_string() }));
                continue;
            }
        };
        for (user_id, keys) in answer {
            let user = user_id.to_string();
            found.device_keys.insert(user.clone(), json!(keys.devices));
            if let Some(mut key) = keys.master_key {
                // The caller's own signature on the key (made with their user-signing key) is
                // kept here, not on the key owner's server.
                if let Some(public) = cross_signing_public_key(&key) {
                    users.add_signatures(&mut key, &user_id, &public, Some(viewer))?;
                }
                found.master_keys.insert(user.clone(), key);
            }
            if let Some(key) = keys.self_signing_key {
                found.self_signing_keys.insert(user, key);
            }
        }
    }
    Ok(Json(json!({
        "device_keys": found.device_keys,
        "master_keys": found.master_keys,
        "self_signing_keys": found.self_signing_keys,
        "user_signing_keys": found.user_signing_keys,
        "failures": failures,
    })))
}

/// Keys of users on one other server: from the cache where it is fresh, from their server for
/// the rest (cached for next time), from a stale copy when their server cannot answer.
async fn remote_keys(
    state: &AppState,
    server: &ruma::ServerName,
    wanted: BTreeMap<OwnedUserId, Vec<OwnedDeviceId>>,
) -> Result<Vec<(OwnedUserId, RemoteKeys)>, myelin_core::Error> {
    let users = &state.services.users;
    let rooms = &state.services.rooms;
    let mut answer = Vec::new();
    let mut to_fetch = BTreeMap::new();
    let mut fallbacks = BTreeMap::new();
    for (user_id, devices) in wanted {
        let tracked = rooms.shares_room_with_local(&user_id)?;
        match users.cached_remote_keys(&user_id)? {
            Some(keys) if !keys.stale && tracked => {
                answer.push((user_id, only_devices(keys, &devices)));
            }
            cached => {
                if let Some(keys) = cached {
                    fallbacks.insert(user_id.clone(), keys);
                }
                to_fetch.insert(user_id, (devices, tracked));
            }
        }
    }
    if to_fetch.is_empty() {
        return Ok(answer);
    }
    // All devices are asked for, so that what is cached is the whole list.
    let query = to_fetch
        .keys()
        .map(|user_id| (user_id.clone(), Vec::new()))
        .collect();
    let fetched = match state.services.federation.get() {
        Ok(federation) => federation.query_keys(server, query).await,
        Err(error) => Err(error),
    };
    match fetched {
        Ok(fetched) => {
            for (user_id, (devices, tracked)) in to_fetch {
                let keys = RemoteKeys::from_answer(&user_id, &fetched);
                if tracked {
                    users.cache_remote_keys(&user_id, &keys).await?;
                }
                answer.push((user_id, only_devices(keys, &devices)));
            }
            Ok(answer)
        }
        // Synapse answers from its cache too when the other server is unreachable.
        Err(error) if fallbacks.len() == to_fetch.len() => {
            tracing::info!(%server, %error, "keys/query answered from stale cached keys");
            for (user_id, keys) in fallbacks {
                let devices = &to_fetch[&user_id].0;
                answer.push((user_id, only_devices(keys, devices)));
            }
            Ok(answer)
        }
        Err(error) => Err(error),
    }
}

/// The asked-for devices only (all of them when none are named).
fn only_devices(mut keys: RemoteKeys, devices: &[OwnedDeviceId]) -> RemoteKeys {
    if !devices.is_empty() {
        keys.devices
            .retain(|device, _| devices.iter().any(|wanted| wanted.as_str() == device));
    }
    keys
}
