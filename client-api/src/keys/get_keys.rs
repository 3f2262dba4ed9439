//! `POST /_matrix/client/v3/keys/query`

use std::collections::BTreeMap;

use axum::{Json, extract::State};
use myelin_core::users::{KeyUsage, cross_signing_public_key};
use ruma::{OwnedDeviceId, OwnedServerName, OwnedUserId, UserId, api::client::keys::get_keys::v3};
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
/// their own keys, and the caller's own on other users' master keys. Users of other servers are
/// asked of their servers; those that cannot answer are named under `failures`.
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
        let answer = match state.services.federation.get() {
            Ok(federation) => federation.query_keys(&server, wanted).await,
            Err(error) => Err(error),
        };
        let answer = match answer {
            Ok(answer) => answer,
            Err(error) => {
                failures.insert(server.to_string(), json!({ "error": error.to_string() }));
                continue;
            }
        };
        super::merge_own_users(&mut found.device_keys, &server, &answer["device_keys"]);
        let mut masters = Map::new();
        super::merge_own_users(&mut masters, &server, &answer["master_keys"]);
        for (user, mut key) in masters {
            // The caller's own signature on the key (made with their user-signing key) is kept
            // here, not on the key owner's server.
            if let (Ok(user_id), Some(public)) =
                (UserId::parse(&user), cross_signing_public_key(&key))
            {
                users.add_signatures(&mut key, &user_id, &public, Some(viewer))?;
            }
            found.master_keys.insert(user, key);
        }
        super::merge_own_users(
            &mut found.self_signing_keys,
            &server,
            &answer["self_signing_keys"],
        );
    }
    Ok(Json(json!({
        "device_keys": found.device_keys,
        "master_keys": found.master_keys,
        "self_signing_keys": found.self_signing_keys,
        "user_signing_keys": found.user_signing_keys,
        "failures": failures,
    })))
}
