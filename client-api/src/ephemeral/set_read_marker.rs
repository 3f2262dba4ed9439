//! `POST /_matrix/client/v3/rooms/{roomId}/read_markers`

use axum::extract::State;
use myelin_core::{
    Error,
    ephemeral::{Receipt, ReceiptType},
    users::now_ms,
};
use ruma::{EventId, RoomId, UserId, api::client::read_marker::set_read_marker::v3};
use serde_json::json;

use crate::{ApiError, AppState, Ruma, RumaResponse};

/// Moves the `m.fully_read` marker (room account data) to an event of the room.
pub(crate) async fn set_fully_read(
    state: &AppState,
    user_id: &UserId,
    room_id: &RoomId,
    event_id: &EventId,
) -> Result<(), ApiError> {
    let rooms = &state.services.rooms;
    let readable_until = rooms.readable_until(room_id, user_id)?;
    let in_room = rooms
        .pdu(event_id)?
        .is_some_and(|event| event.room() == room_id);
    if !in_room
        || rooms
            .event_position(event_id)?
            .is_none_or(|position| position > readable_until)
    {
        return Err(Error::NotFound("Event not found in this room".into()).into());
    }
    state
        .services
        .users
        .set_account_data(
            user_id,
            Some(room_id),
            "m.fully_read",
            json!({ "event_id": event_id }),
        )
        .await?;
    Ok(())
}

/// # `POST /_matrix/client/v3/rooms/{roomId}/read_markers`
pub async fn set_read_marker(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<RumaResponse<v3::Response>, ApiError> {
    let identity = request.identity()?;
    let body = &request.body;
    if let Some(event_id) = &body.fully_read {
        set_fully_read(&state, &identity.user_id, &body.room_id, event_id).await?;
    }
    for (receipt_type, event_id) in [
        (ReceiptType::Read, &body.read_receipt),
        (ReceiptType::ReadPrivate, &body.private_read_receipt),
    ] {
        if let Some(event_id) = event_id {
            let receipt = Receipt {
                room_id: body.room_id.clone(),
                user_id: identity.user_id.clone(),
                receipt_type,
                thread_id: None,
                event_id: event_id.clone(),
                ts: now_ms(),
            };
            state.services.rooms.set_receipt(receipt).await?;
        }
    }
    Ok(RumaResponse(v3::Response::new()))
}
