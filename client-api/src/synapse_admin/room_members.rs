//! `GET /_synapse/admin/v1/rooms/{roomId}/members`

use axum::{Json, extract::State};
use serde_json::{Value as JsonValue, json};
use synapse_admin_api::rooms::room_members::v1;

use super::require_admin;
use crate::{ApiError, AppState, Ruma};

/// # `GET /_synapse/admin/v1/rooms/{roomId}/members`
pub async fn room_members(
    State(state): State<AppState>,
    request: Ruma<v1::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let rooms = &state.services.rooms;
    let room_id = &request.body.room_id;
    // The room must exist (404 otherwise, as Synapse).
    rooms.room_overview(room_id)?;
    let members: Vec<String> = rooms
        .joined_members(room_id)?
        .into_iter()
        .filter_map(|member| member.state_key)
        .collect();
    Ok(Json(json!({ "total": members.len(), "members": members })))
}
