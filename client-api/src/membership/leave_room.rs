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
    // An invite (or knock) in a room this server is not in is answered through a server that
    // is. An invite by one of our own users comes from a room whose state this server holds,
    // even when everyone has left since: that one is declined here [Complement TestRoomsInvite].
    let invited_by_remote = rooms
        .membership_event(room_id, &identity.user_id)?
        .is_some_and(|event| event.sender.server_name() != rooms.server_name());
    let answered_remotely = match rooms.membership(room_id, &identity.user_id)? {
        Some(Membership::Knock) => true,
        Some(Membership::Invite) => invited_by_remote,
        _ => false,
    };
    if answered_remotely && !rooms.is_resident(room_id)? {
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
