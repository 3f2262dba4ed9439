//! `GET /_matrix/client/v3/rooms/{roomId}/state`

use axum::{Json, extract::State};
use myelin_core::Error;
use ruma::api::client::state::get_state_events::v3;
use serde_json::Value as JsonValue;

use crate::{ApiError, AppState, Ruma, room::client_event};

/// # `GET /_matrix/client/v3/rooms/{roomId}/state`
pub async fn get_state_events(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<Vec<JsonValue>>, ApiError> {
    let identity = request.identity()?;
    let rooms = &state.services.rooms;
    if !rooms.is_joined(&request.body.room_id, &identity.user_id)? {
        rooms.readable_until(&request.body.room_id, &identity.user_id)?;
        return Err(
            Error::Forbidden("The state of a room you left is not available".into()).into(),
        );
    }
    let events = rooms.current_state(&request.body.room_id)?;
    Ok(Json(
        events
            .iter()
            .map(|event| client_event(&state, event, identity, true))
            .collect(),
    ))
}
