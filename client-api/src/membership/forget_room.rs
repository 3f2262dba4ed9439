//! `POST /_matrix/client/v3/rooms/{roomId}/forget`

use axum::extract::State;
use ruma::api::client::membership::forget_room::v3;

use crate::{ApiError, AppState, Ruma, RumaResponse};

/// # `POST /_matrix/client/v3/rooms/{roomId}/forget`
pub async fn forget_room(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<RumaResponse<v3::Response>, ApiError> {
    let identity = request.identity()?;
    state
        .services
        .rooms
        .forget(&request.body.room_id, &identity.user_id)
        .await?;
    Ok(RumaResponse(v3::Response::new()))
}
