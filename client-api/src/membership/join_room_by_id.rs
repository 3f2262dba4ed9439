//! `POST /_matrix/client/v3/rooms/{roomId}/join`

use axum::extract::State;
use ruma::api::client::membership::join_room_by_id::v3;

use crate::{ApiError, AppState, Ruma, RumaResponse, room::join_anywhere};

/// # `POST /_matrix/client/v3/rooms/{roomId}/join`
pub async fn join_room_by_id(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<RumaResponse<v3::Response>, ApiError> {
    let identity = request.identity()?;
    // Suspended accounts may read and leave, not act (spec 1.18).
    state
        .services
        .users
        .check_not_suspended(&identity.user_id)?;
    let room_id = join_anywhere(
        &state,
        &identity.user_id,
        &request.body.room_id,
        Vec::new(),
        request.body.reason.as_deref(),
        request.json.as_ref(),
    )
    .await?;
    Ok(RumaResponse(v3::Response::new(room_id)))
}
