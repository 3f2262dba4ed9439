//! `GET /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}`

use axum::{Json, extract::State};
use myelin_core::Error;
use ruma::api::client::state::get_state_event_for_key::v3;
use serde_json::Value as JsonValue;

use crate::{ApiError, AppState, Ruma, room::client_event};

/// # `GET /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}`
pub async fn get_state_event_for_key(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let rooms = &state.services.rooms;
    let body = &request.body;
    let kind = body.event_type.to_string();
    let event = if rooms.is_joined(&body.room_id, &identity.user_id)? {
        rooms.state_pdu(&body.room_id, &kind, &body.state_key)?
    } else {
        super::readable_state(&state, &body.room_id, &identity.user_id)?
            .into_iter()
            .find(|event| event.state_key_pair() == Some((kind.clone(), body.state_key.clone())))
    }
    .ok_or_else(|| Error::NotFound("Event not found".into()))?;
    let wants_event = matches!(body.format, v3::StateEventFormat::Event);
    Ok(Json(if wants_event {
        client_event(&state, &event, identity, true)
    } else {
        event.content_json()
    }))
}
