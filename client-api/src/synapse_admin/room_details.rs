//! `GET /_synapse/admin/v1/rooms/{roomId}`

use axum::{Json, extract::State};
use serde_json::Value as JsonValue;
use synapse_admin_api::rooms::room_details::v1;

use super::{list_rooms::room_json, require_admin};
use crate::{ApiError, AppState, Ruma};

/// # `GET /_synapse/admin/v1/rooms/{roomId}`
///
/// The list's fields plus `topic` and `avatar`.
pub async fn room_details(
    State(state): State<AppState>,
    request: Ruma<v1::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let room = state.services.rooms.room_overview(&request.body.room_id)?;
    let mut details = room_json(&room);
    details["topic"] = room.topic.into();
    details["avatar"] = room.avatar.into();
    Ok(Json(details))
}
