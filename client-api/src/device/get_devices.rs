//! `GET /_matrix/client/v3/devices`

use axum::{Json, extract::State};
use ruma::api::client::device::get_devices::v3;
use serde_json::{Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma};

/// # `GET /_matrix/client/v3/devices`
pub async fn get_devices(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let devices = state.services.users.devices(&request.identity()?.user_id)?;
    let devices: Vec<JsonValue> = devices.into_iter().map(super::device_json).collect();
    Ok(Json(json!({ "devices": devices })))
}
