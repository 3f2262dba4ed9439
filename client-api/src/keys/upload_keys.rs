//! `POST /_matrix/client/v3/keys/upload`

use axum::{Json, extract::State};
use ruma::api::client::keys::upload_keys::v3;
use serde_json::{Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma};

/// # `POST /_matrix/client/v3/keys/upload`
pub async fn upload_keys(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let body = &request.body;
    let parse = |raw: &serde_json::value::RawValue| -> Result<JsonValue, ApiError> {
        serde_json::from_str(raw.get()).map_err(|error| ApiError::bad_json(error.to_string()))
    };
    let device_keys = body
        .device_keys
        .as_ref()
        .map(|raw| parse(raw.json()))
        .transpose()?;
    let one_time_keys = body
        .one_time_keys
        .iter()
        .map(|(id, raw)| Ok((id.to_string(), parse(raw.json())?)))
        .collect::<Result<_, ApiError>>()?;
    let fallback_keys = body
        .fallback_keys
        .iter()
        .map(|(id, raw)| Ok((id.to_string(), parse(raw.json())?)))
        .collect::<Result<_, ApiError>>()?;
    let counts = state
        .services
        .users
        .upload_keys(
            &identity.user_id,
            &identity.device_id,
            device_keys,
            one_time_keys,
            fallback_keys,
        )
        .await?;
    Ok(Json(json!({ "one_time_key_counts": counts })))
}
