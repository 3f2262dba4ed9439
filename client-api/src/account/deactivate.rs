//! `POST /_matrix/client/v3/account/deactivate`

use axum::extract::State;
use ruma::api::client::account::{ThirdPartyIdRemovalStatus, deactivate::v3};

use crate::{ApiError, AppState, Ruma, RumaResponse};

/// # `POST /_matrix/client/v3/account/deactivate`
pub async fn deactivate(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<RumaResponse<v3::Response>, ApiError> {
    let identity = request.identity()?;
    let users = &state.services.users;
    users
        .confirm_password(&identity.user_id, request.auth_json())
        .await?;
    users.deactivate(&identity.user_id).await?;
    tracing::info!(user_id = %identity.user_id, "account deactivated");
    // No identity server was ever bound, so there was nothing to unbind.
    Ok(RumaResponse(v3::Response::new(
        ThirdPartyIdRemovalStatus::NoSupport,
    )))
}
