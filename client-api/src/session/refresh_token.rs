//! `POST /_matrix/client/v3/refresh`

use std::time::Duration;

use axum::extract::State;
use ruma::api::client::session::refresh_token::v3;

use crate::{ApiError, AppState, Ruma, RumaResponse};

/// # `POST /_matrix/client/v3/refresh`
pub async fn refresh_token(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<RumaResponse<v3::Response>, ApiError> {
    let session = state
        .services
        .users
        .refresh_session(&request.body.refresh_token)
        .await?;
    let mut response = v3::Response::new(session.access_token);
    response.refresh_token = session.refresh_token;
    response.expires_in_ms = session.expires_in_ms.map(Duration::from_millis);
    Ok(RumaResponse(response))
}
