//! `GET /_matrix/client/v3/devices/{deviceId}`

use axum::{Json, extract::State};
use myelin_core::Error;
use ruma::api::client::device::get_device::v3;

use crate::{ApiError, AppState, Ruma};

/// # `GET /_matrix/client/v3/devices/{deviceId}`
pub async fn get_device(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let identity = request.identity()?;
    let device = state
        .services
        .users
        .device(&identity.user_id, &request.body.device_id)?
        .ok_or_else(|| Error::NotFound("Device not found".into()))?;
    Ok(Json(super::device_json(device)))
}
