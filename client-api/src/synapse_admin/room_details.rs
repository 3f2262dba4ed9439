//! `GET /_synapse/admin/v1/rooms/{roomId}`

use axum::{Json, extract::State};
use serde_json::Value as JsonValue;
use synapse_admin_api::rooms::room_details::v1;

use super::{list_rooms::room_json, require_admin};
use crate::{ApiError, AppState, Ruma};

/// # `GET /_synapse/admin/v1/rooms/{roomId}`
///
/// The list's fields plus `topic`, `avatar`, the devices of local members, and whether the
/// room was upgraded away from. `forgotten` (every local user forgot it) is always `false`:
/// rooms with local members are not forgotten by all, and Myelin does not track the rest.
pub async fn room_details(
    State(state): State<AppState>,
    request: Ruma<v1::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let room = state.services.rooms.room_overview(&request.body.room_id)?;
    let mut details = room_json(&room);
    details["topic"] = room.topic.into();
    details["avatar"] = room.avatar.into();
    let mut devices = 0;
    for member in &room.local_members {
        devices += state.services.users.devices(member)?.len();
    }
    details["joined_local_devices"] = devices.into();
    details["tombstoned"] = room.tombstoned.into();
    details["replacement_room"] = room.replacement_room.into();
    details["forgotten"] = false.into();
    Ok(Json(details))
}
