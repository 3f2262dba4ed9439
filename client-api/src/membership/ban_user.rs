//! `POST /_matrix/client/v3/rooms/{roomId}/ban`

use axum::extract::State;
use ruma::api::client::membership::ban_user::v3;

use crate::{ApiError, AppState, Ruma, RumaResponse};

/// # `POST /_matrix/client/v3/rooms/{roomId}/ban`
pub async fn ban_user(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<RumaResponse<v3::Response>, ApiError> {
    let identity = request.identity()?;
    let body = &request.body;
    state
        .services
        .rooms
        .ban(
            &body.room_id,
            &identity.user_id,
            &body.user_id,
            body.reason.as_deref(),
        )
        .await?;
    Ok(RumaResponse(v3::Response::new()))
}
