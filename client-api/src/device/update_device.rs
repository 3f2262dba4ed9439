//! `PUT /_matrix/client/v3/devices/{deviceId}`

use axum::extract::State;
use ruma::api::client::device::update_device::v3;

use crate::{ApiError, AppState, Ruma, RumaResponse};

/// # `PUT /_matrix/client/v3/devices/{deviceId}`
pub async fn update_device(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<RumaResponse<v3::Response>, ApiError> {
    let identity = request.identity()?;
    let users = &state.services.users;
    // An appservice creates a device of a user it acts for by naming it (spec v1.17, MSC4190):
    // the device gets no access token of its own; the appservice uses it with `device_id`.
    if identity.appservice_id.is_some()
        && users
            .device(&identity.user_id, &request.body.device_id)?
            .is_none()
    {
        users
            .open_session(myelin_core::users::SessionRequest {
                user_id: identity.user_id.clone(),
                device_id: Some(request.body.device_id.clone()),
                initial_display_name: request.body.display_name.clone(),
                refreshable: false,
                valid_until_ms: None,
                client_ip: request.client_ip.to_string(),
            })
            .await?;
        return Ok(RumaResponse(v3::Response::new()));
    }
    state
        .services
        .users
        .set_device_display_name(
            &identity.user_id,
            &request.body.device_id,
            request.body.display_name.clone(),
        )
        .await?;
    Ok(RumaResponse(v3::Response::new()))
}
