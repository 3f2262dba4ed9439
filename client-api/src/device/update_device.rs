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
