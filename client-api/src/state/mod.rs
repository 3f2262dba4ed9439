//! Room state endpoints.
pub mod get_state_event_for_key;
pub mod get_state_events;
pub mod send_state_event;

use myelin_core::{
    Error,
    rooms::{Membership, PduEvent},
};
use ruma::{RoomId, UserId};

use crate::{ApiError, AppState};

/// The room state `user_id` may read: the current state while joined (or in a world-readable
/// room), the state as of their leave (or ban) once they left, as Synapse serves it
/// [Complement TestLeftRoomFixture]; `403` for rooms they never were in.
pub(crate) fn readable_state(
    state: &AppState,
    room_id: &RoomId,
    user_id: &UserId,
) -> Result<Vec<PduEvent>, ApiError> {
    let rooms = &state.services.rooms;
    if rooms.is_joined(room_id, user_id)? {
        return Ok(rooms.current_state(room_id)?);
    }
    rooms.readable_until(room_id, user_id)?;
    if matches!(
        rooms.membership(room_id, user_id)?,
        Some(Membership::Leave | Membership::Ban)
    ) && let Some(leave) = rooms.membership_event(room_id, user_id)?
    {
        let Some(map) = rooms.state_after_event(&leave.event_id)? else {
            return Err(Error::Forbidden("The state of this room is not available".into()).into());
        };
        let mut events = Vec::with_capacity(map.len());
        for event_id in map.values() {
            if let Some(event) = rooms.pdu(event_id)? {
                events.push(event);
            }
        }
        return Ok(events);
    }
    Ok(rooms.current_state(room_id)?)
}
