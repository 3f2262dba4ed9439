//! `POST /_matrix/client/v3/delete_devices`

use axum::extract::State;
use myelin_core::users::{STAGE_PASSWORD, UiaFlow};
use ruma::api::client::device::delete_devices::v3;

use crate::{ApiError, AppState, Ruma, RumaResponse};

/// # `POST /_matrix/client/v3/delete_devices`
pub async fn delete_devices(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<RumaResponse<v3::Response>, ApiError> {
    let identity = request.identity()?;
    let users = &state.services.users;
    users
        .user_interactive_auth(
            vec![UiaFlow::single(STAGE_PASSWORD)],
            request.auth_json(),
            Some(&identity.user_id),
        )
        .await?;
    users
        .delete_devices(&identity.user_id, &request.body.devices)
        .await?;
    Ok(RumaResponse(v3::Response::new()))
}
