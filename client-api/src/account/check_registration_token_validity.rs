//! `GET /_matrix/client/v1/register/m.login.registration_token/validity`

use axum::extract::State;
use ruma::api::client::account::check_registration_token_validity::v1;

use crate::{ApiError, AppState, Ruma, RumaResponse};

/// # `GET /_matrix/client/v1/register/m.login.registration_token/validity`
pub async fn check_registration_token_validity(
    State(state): State<AppState>,
    request: Ruma<v1::Request>,
) -> Result<RumaResponse<v1::Response>, ApiError> {
    // Rate limited like registration: otherwise it is an oracle for guessing tokens.
    state.limits.registration_per_ip.check(&request.client_ip)?;
    let valid = state
        .services
        .users
        .registration_token_valid(&request.body.token)?;
    Ok(RumaResponse(v1::Response::new(valid)))
}
