//! `POST /_matrix/client/v3/delete_devices`

use axum::extract::State;
use ruma::api::client::device::delete_devices::v3;

use crate::{ApiError, AppState, Ruma, RumaResponse};

/// # `POST /_matrix/client/v3/delete_devices`
pub async fn delete_devices(
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
        .delete_devices(&identity.user_id, &request.body.devices)
        .await?;
    Ok(RumaResponse(v3::Response::new()))
}
