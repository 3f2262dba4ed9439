//! `GET /_matrix/client/v3/devices`

use axum::extract::State;
use ruma::api::client::device::get_devices::v3;

use crate::{ApiError, AppState, Ruma, RumaResponse};

/// # `GET /_matrix/client/v3/devices`
pub async fn get_devices(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<RumaResponse<v3::Response>, ApiError> {
    let devices = state.services.users.devices(&request.identity()?.user_id)?;
    Ok(RumaResponse(v3::Response::new(
        devices.into_iter().map(super::to_ruma).collect(),
    )))
}
