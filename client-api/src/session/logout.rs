//! `POST /_matrix/client/v3/logout`

use axum::extract::State;
use ruma::api::client::session::logout::v3;

use crate::{ApiError, AppState, Ruma, RumaResponse};

/// # `POST /_matrix/client/v3/logout`
pub async fn logout(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<RumaResponse<v3::Response>, ApiError> {
    state.services.users.logout(request.identity()?).await?;
    Ok(RumaResponse(v3::Response::new()))
}
