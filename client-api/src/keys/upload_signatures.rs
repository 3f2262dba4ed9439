//! `POST /_matrix/client/v3/keys/signatures/upload`

use std::collections::BTreeMap;

use axum::{Json, extract::State};
use ruma::api::client::keys::upload_signatures::v3;
use serde_json::{Map, Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma, error::errcode_of};

/// # `POST /_matrix/client/v3/keys/signatures/upload`
///
/// Each signed object is checked on its own; those refused are listed under `failures` with
/// an errcode (`M_INVALID_SIGNATURE`, `M_NOT_FOUND`, `M_INVALID_PARAM`), the rest are kept.
pub async fn upload_signatures(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let mut signed = BTreeMap::new();
    for (user_id, keys) in &request.body.signed_keys {
        let mut objects = BTreeMap::new();
        for (key_id, raw) in keys.iter() {
            let object: JsonValue = serde_json::from_str(raw.get())
                .map_err(|error| ApiError::bad_json(error.to_string()))?;
            objects.insert(key_id.to_owned(), object);
        }
        signed.insert(user_id.clone(), objects);
    }
    let refused = state
        .services
        .users
        .upload_signatures(&identity.user_id, signed)
        .await?;
    let mut failures = Map::new();
    for (user_id, keys) in refused {
        let per_key: Map<String, JsonValue> = keys
            .into_iter()
            .map(|(key_id, error)| {
                let entry = json!({ "errcode": errcode_of(&error), "error": error.to_string() });
                (key_id, entry)
            })
            .collect();
        failures.insert(user_id.to_string(), JsonValue::Object(per_key));
    }
    Ok(Json(json!({ "failures": failures })))
}
