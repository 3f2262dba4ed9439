//! `POST /_matrix/client/v3/rooms/{roomId}/leave`

use axum::extract::State;
use myelin_core::rooms::Membership;
use ruma::api::client::membership::leave_room::v3;

use crate::{ApiError, AppState, Ruma, RumaResponse};

/// # `POST /_matrix/client/v3/rooms/{roomId}/leave`
pub async fn leave_room(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<RumaResponse<v3::Response>, ApiError> {
    let identity = request.identity()?;
    let rooms = &state.services.rooms;
    let room_id = &request.body.room_id;
    // An invite (or knock) in a room this server is not in is answered through a server that is.
    if !rooms.is_resident(room_id)?
        && matches!(
            rooms.membership(room_id, &identity.user_id)?,
            Some(Membership::Invite | Membership::Knock)
        )
    {
        state
            .services
            .federation
            .get()?
            .leave_remote(&identity.user_id, room_id, request.body.reason.clone())
            .await?;
        return Ok(RumaResponse(v3::Response::new()));
    }
    rooms
        .leave(
            &request.body.room_id,
            &identity.user_id,
            request.body.reason.as_deref(),
        )
        .await?;
    Ok(RumaResponse(v3::Response::new()))
}
