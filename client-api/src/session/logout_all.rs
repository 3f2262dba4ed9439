//! `POST /_matrix/client/v3/logout/all`

use axum::extract::State;
use ruma::api::client::session::logout_all::v3;

use crate::{ApiError, AppState, Ruma, RumaResponse};

/// # `POST /_matrix/client/v3/logout/all`
pub async fn logout_all(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<RumaResponse<v3::Response>, ApiError> {
    state
        .services
        .users
        .logout_all(&request.identity()?.user_id)
        .await?;
    Ok(RumaResponse(v3::Response::new()))
}
