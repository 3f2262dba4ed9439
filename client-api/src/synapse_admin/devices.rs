//! A user's devices, for administrators: `GET /_synapse/admin/v2/users/{userId}/devices`,
//! `GET`/`PUT`/`DELETE …/devices/{deviceId}` and `POST …/delete_devices`.

use axum::{Json, extract::State};
use myelin_core::{Error, users::DeviceInfo};
use serde_json::{Value as JsonValue, json};

use super::{endpoints, local_account, require_admin};
use crate::{ApiError, AppState, Ruma};

fn device_json(user_id: &ruma::UserId, device: &DeviceInfo) -> JsonValue {
    json!({
        "device_id": device.device_id,
        "display_name": device.display_name,
        "last_seen_ip": device.last_seen_ip,
        "last_seen_ts": device.last_seen_ts,
        "last_seen_user_agent": device.last_seen_user_agent,
        "user_id": user_id,
    })
}

/// # `GET /_synapse/admin/v2/users/{userId}/devices`
pub async fn list_devices(
    State(state): State<AppState>,
    request: Ruma<endpoints::list_devices::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let user_id = &request.body.user_id;
    local_account(&state, user_id)?;
    let devices: Vec<JsonValue> = state
        .services
        .users
        .devices(user_id)?
        .iter()
        .map(|device| device_json(user_id, device))
        .collect();
    Ok(Json(json!({ "total": devices.len(), "devices": devices })))
}

/// # `GET /_synapse/admin/v2/users/{userId}/devices/{deviceId}`
pub async fn get_device(
    State(state): State<AppState>,
    request: Ruma<endpoints::get_device::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let body = &request.body;
    local_account(&state, &body.user_id)?;
    let device = state
        .services
        .users
        .device(&body.user_id, &body.device_id)?
        .ok_or_else(|| Error::NotFound("No device found".into()))?;
    Ok(Json(device_json(&body.user_id, &device)))
}

/// # `PUT /_synapse/admin/v2/users/{userId}/devices/{deviceId}`
pub async fn update_device(
    State(state): State<AppState>,
    request: Ruma<endpoints::update_device::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let body = &request.body;
    local_account(&state, &body.user_id)?;
    let users = &state.services.users;
    if users.device(&body.user_id, &body.device_id)?.is_none() {
        return Err(Error::NotFound("No device found".into()).into());
    }
    if let Some(name) = &body.display_name {
        users
            .set_device_display_name(&body.user_id, &body.device_id, Some(name.clone()))
            .await?;
    }
    Ok(Json(json!({})))
}

/// # `DELETE /_synapse/admin/v2/users/{userId}/devices/{deviceId}`
pub async fn delete_device(
    State(state): State<AppState>,
    request: Ruma<endpoints::delete_device::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let body = &request.body;
    local_account(&state, &body.user_id)?;
    state
        .services
        .users
        .delete_devices(&body.user_id, std::slice::from_ref(&body.device_id))
        .await?;
    Ok(Json(json!({})))
}

/// # `POST /_synapse/admin/v2/users/{userId}/delete_devices`
pub async fn delete_devices(
    State(state): State<AppState>,
    request: Ruma<endpoints::delete_devices::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let body = &request.body;
    local_account(&state, &body.user_id)?;
    state
        .services
        .users
        .delete_devices(&body.user_id, &body.devices)
        .await?;
    Ok(Json(json!({})))
}

/// # `POST /_synapse/admin/v2/users/{userId}/devices`
///
/// Makes the device `device_id` for the user (nothing changes when it exists), as Synapse
/// does for tools that manage sessions elsewhere.
pub async fn create_device(
    State(state): State<AppState>,
    request: Ruma<endpoints::create_device::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let user_id = &request.body.user_id;
    if local_account(&state, user_id)?.deactivated {
        return Err(Error::UserDeactivated.into());
    }
    let device_id = request
        .json
        .as_ref()
        .and_then(|body| body.get("device_id"))
        .and_then(JsonValue::as_str)
        .filter(|id| !id.is_empty() && id.len() <= 255)
        .ok_or_else(|| Error::MissingParam("device_id is required".into()))?;
    let device_id: ruma::OwnedDeviceId = device_id.into();
    let users = &state.services.users;
    if users.device(user_id, &device_id)?.is_none() {
        users
            .open_session(myelin_core::users::SessionRequest {
                user_id: user_id.clone(),
                device_id: Some(device_id),
                initial_display_name: None,
                refreshable: false,
                valid_until_ms: None,
                client_ip: request.client_ip.to_string(),
            })
            .await?;
    }
    Ok(Json(json!({})))
}
