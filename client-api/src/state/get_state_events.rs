//! `GET /_matrix/client/v3/rooms/{roomId}/state`

use axum::{Json, extract::State};
use ruma::api::client::state::get_state_events::v3;
use serde_json::Value as JsonValue;

use crate::{ApiError, AppState, Ruma, room::client_event};

/// # `GET /_matrix/client/v3/rooms/{roomId}/state`
pub async fn get_state_events(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<Vec<JsonValue>>, ApiError> {
    let identity = request.identity()?;
    let events = super::readable_state(&state, &request.body.room_id, &identity.user_id)?;
    Ok(Json(
        events
            .iter()
            .map(|event| client_event(&state, event, identity, true))
            .collect(),
    ))
}
