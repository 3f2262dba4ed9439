//! `DELETE /_matrix/client/v3/devices/{deviceId}`

use axum::extract::State;
use ruma::api::client::device::delete_device::v3;

use crate::{ApiError, AppState, Ruma, RumaResponse};

/// # `DELETE /_matrix/client/v3/devices/{deviceId}`
///
/// Like Synapse, deleting a device that does not exist (after authentication) succeeds.
pub async fn delete_device(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<RumaResponse<v3::Response>, ApiError> {
    let identity = request.identity()?;
    let users = &state.services.users;
    // Appservices manage their users' devices without user-interactive auth (spec v1.17,
    // MSC4190): they hold no password, and their token already proves who they act for.
    if identity.appservice_id.is_none() {
        users
            .confirm_password(&identity.user_id, request.auth_json())
            .await?;
    }
    users
        .delete_devices(
            &identity.user_id,
            std::slice::from_ref(&request.body.device_id),
        )
        .await?;
    Ok(RumaResponse(v3::Response::new()))
}
