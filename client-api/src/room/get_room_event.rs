//! `GET /_matrix/client/v3/rooms/{roomId}/event/{eventId}`

use axum::{Json, extract::State};
use myelin_core::Error;
use ruma::api::client::room::get_room_event::v3;
use serde_json::Value as JsonValue;

use crate::{ApiError, AppState, Ruma};

/// # `GET /_matrix/client/v3/rooms/{roomId}/event/{eventId}`
pub async fn get_room_event(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let rooms = &state.services.rooms;
    let not_found = || ApiError::Core(Error::NotFound("Event not found".into()));
    // An event the user may not see is 404, whatever the reason, as Synapse answers
    // [Complement TestFetchEventNonWorldReadable]: the event's existence is not revealed.
    let readable_until = match rooms.readable_until(&request.body.room_id, &identity.user_id) {
        Err(Error::Forbidden(_) | Error::NotFound(_)) => return Err(not_found()),
        other => other?,
    };
    let event = rooms.pdu(&request.body.event_id)?.ok_or_else(not_found)?;
    let position = rooms
        .event_position(&event.event_id)?
        .ok_or_else(not_found)?;
    let membership = rooms.membership(&request.body.room_id, &identity.user_id)?;
    if event.room() != request.body.room_id
        || position > readable_until
        || !rooms.event_visible(
            &request.body.room_id,
            &identity.user_id,
            position,
            membership,
        )?
    {
        return Err(not_found());
    }
    Ok(Json(super::client_event(&state, &event, identity, true)))
}
