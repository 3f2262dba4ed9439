//! `GET /_synapse/admin/v1/rooms/{roomId}/state`

use axum::{Json, extract::State};
use serde_json::{Value as JsonValue, json};

use super::{endpoints::room_state, require_admin};
use crate::{ApiError, AppState, Ruma};

/// # `GET /_synapse/admin/v1/rooms/{roomId}/state`
///
/// The room's current state events, in the client format (with Synapse's legacy keys).
pub async fn room_state(
    State(state): State<AppState>,
    request: Ruma<room_state::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let rooms = &state.services.rooms;
    let room_id = &request.body.room_id;
    rooms.room_overview(room_id)?;
    let events: Vec<JsonValue> = rooms
        .current_state(room_id)?
        .iter()
        .map(super::admin_event)
        .collect();
    Ok(Json(json!({ "state": events })))
}
