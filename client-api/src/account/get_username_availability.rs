//! `GET /_matrix/client/v3/register/available`

use axum::extract::State;
use ruma::api::client::account::get_username_availability::v3;

use crate::{ApiError, AppState, Ruma, RumaResponse};

/// # `GET /_matrix/client/v3/register/available`
pub async fn get_username_availability(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<RumaResponse<v3::Response>, ApiError> {
    state.limits.registration_per_ip.check(&request.client_ip)?;
    state
        .services
        .users
        .check_username_available(&request.body.username.to_lowercase())?;
    Ok(RumaResponse(v3::Response::new(true)))
}
