//! `GET` and `PUT /_synapse/admin/v1/rooms/{roomId}/block`: rooms local users may not join.

use axum::{Json, extract::State};
use serde_json::{Value as JsonValue, json};

use super::{endpoints, require_admin};
use crate::{ApiError, AppState, Ruma};

/// # `GET /_synapse/admin/v1/rooms/{roomId}/block`
pub async fn get_block(
    State(state): State<AppState>,
    request: Ruma<endpoints::get_room_block::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    Ok(Json(
        match state.services.rooms.blocked_by(&request.body.room_id)? {
            Some(admin) => json!({ "block": true, "user_id": admin }),
            None => json!({ "block": false }),
        },
    ))
}

/// # `PUT /_synapse/admin/v1/rooms/{roomId}/block`
///
/// Any room id may be blocked, known here or not (as Synapse: a room can be blocked before
/// anyone tries it). Members already joined stay; nobody local joins again.
pub async fn set_block(
    State(state): State<AppState>,
    request: Ruma<endpoints::set_room_block::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    require_admin(&state, identity)?;
    let body = &request.body;
    state
        .services
        .rooms
        .set_blocked(&body.room_id, body.block.then_some(&*identity.user_id))
        .await?;
    Ok(Json(json!({ "block": body.block })))
}
