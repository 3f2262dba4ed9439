//! `POST /_matrix/client/v1/login/get_token`

use std::time::Duration;

use axum::extract::State;
use ruma::api::client::session::get_login_token::v1;

use crate::{ApiError, AppState, Ruma, RumaResponse};

/// # `POST /_matrix/client/v1/login/get_token`
///
/// Needs the password again (UIA), as Synapse requires: the token logs in a new device.
pub async fn get_login_token(
    State(state): State<AppState>,
    request: Ruma<v1::Request>,
) -> Result<RumaResponse<v1::Response>, ApiError> {
    let identity = request.identity()?;
    let users = &state.services.users;
    users
        .confirm_password(&identity.user_id, request.auth_json())
        .await?;
    let (token, lifetime_ms) = users.create_login_token(&identity.user_id).await?;
    Ok(RumaResponse(v1::Response::new(
        Duration::from_millis(lifetime_ms),
        token,
    )))
}
