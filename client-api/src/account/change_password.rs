//! `POST /_matrix/client/v3/account/password`

use axum::extract::State;
use ruma::api::client::account::change_password::v3;

use crate::{ApiError, AppState, Ruma, RumaResponse};

/// # `POST /_matrix/client/v3/account/password`
///
/// Needs the current password (UIA). With `logout_devices` (the default) every other device is
/// logged out; the calling device stays.
pub async fn change_password(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<RumaResponse<v3::Response>, ApiError> {
    let identity = request.identity()?;
    let users = &state.services.users;
    users.check_password_policy(&request.body.new_password)?;
    users
        .confirm_password(&identity.user_id, request.auth_json())
        .await?;
    users
        .set_password(
            &identity.user_id,
            &request.body.new_password,
            request.body.logout_devices,
            Some(&identity.device_id),
        )
        .await?;
    Ok(RumaResponse(v3::Response::new()))
}
