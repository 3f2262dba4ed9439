//! `POST /_matrix/client/v3/rooms/{roomId}/leave`

use axum::extract::State;
use ruma::api::client::membership::leave_room::v3;

use crate::{ApiError, AppState, Ruma, RumaResponse};

/// # `POST /_matrix/client/v3/rooms/{roomId}/leave`
pub async fn leave_room(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<RumaResponse<v3::Response>, ApiError> {
    let identity = request.identity()?;
    state
        .services
        .rooms
        .leave(
            &request.body.room_id,
            &identity.user_id,
            request.body.reason.as_deref(),
        )
        .await?;
    Ok(RumaResponse(v3::Response::new()))
}
