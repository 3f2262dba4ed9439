//! A room's inner workings, for administrators: `GET /_synapse/admin/v1/rooms/{roomId}/
//! forward_extremities`, and `POST …/make_room_admin`, which gives a local user the highest
//! power in a room through the local member who has the most.

use axum::{Json, extract::State};
use myelin_core::{Error, rooms::EventSpec};
use serde_json::{Value as JsonValue, json};

use super::{endpoints, local_account, require_admin};
use crate::{ApiError, AppState, Ruma, room::join_anywhere};

/// # `GET /_synapse/admin/v1/rooms/{roomId}/forward_extremities`
pub async fn forward_extremities(
    State(state): State<AppState>,
    request: Ruma<endpoints::forward_extremities::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let rooms = &state.services.rooms;
    let info = rooms
        .room_info(&request.body.room_id)?
        .ok_or_else(|| Error::NotFound("Room not found".into()))?;
    let mut results = Vec::new();
    for event_id in &info.forward_extremities {
        let event = rooms.pdu(event_id)?;
        results.push(json!({
            "event_id": event_id,
            "state_group": info.state_snapshot,
            "depth": event.as_ref().map(|event| u64::from(event.depth)),
            "received_ts": event.as_ref().map(|event| u64::from(event.origin_server_ts.get())),
        }));
    }
    Ok(Json(json!({ "count": results.len(), "results": results })))
}

/// # `POST /_synapse/admin/v1/rooms/{roomId}/make_room_admin`
///
/// As Synapse: the local member with the most power raises the user (the caller unless
/// `user_id` says otherwise) to their own level, inviting and joining them first if needed. A
/// room whose local members cannot change power levels stays as it is (`400`). Creators of
/// version 12 rooms rank above every level: the user then gets 150, enough to upgrade.
pub async fn make_room_admin(
    State(state): State<AppState>,
    request: Ruma<endpoints::make_room_admin::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    require_admin(&state, identity)?;
    let room_id = &request.body.room_id;
    let target = request
        .body
        .user_id
        .clone()
        .unwrap_or_else(|| identity.user_id.clone());
    local_account(&state, &target)?;
    let rooms = &state.services.rooms;
    rooms
        .room_info(room_id)?
        .ok_or_else(|| Error::NotFound("Room not found".into()))?;
    let mut strongest = None;
    for member in rooms.local_joined_members(room_id)? {
        let level = rooms.user_power_level(room_id, &member)?;
        if strongest.as_ref().is_none_or(|(_, best)| level > *best) {
            strongest = Some((member, level));
        }
    }
    let required = rooms.power_level_for(room_id, "state_default", 50)?;
    let Some((granter, level)) = strongest.filter(|(_, level)| *level >= required) else {
        return Err(Error::InvalidParam(
            "No local member of the room can change its power levels".into(),
        )
        .into());
    };
    let new_level = if level == i64::MAX { 150 } else { level };
    if !rooms.is_joined(room_id, &target)? {
        let joined = join_anywhere(&state, &target, room_id, Vec::new(), None, None).await;
        if joined.is_err() {
            let profile = crate::room::member_profile(&state, &target);
            let federation = state.services.federation.get().ok();
            rooms
                .invite(
                    federation.as_deref(),
                    room_id,
                    &granter,
                    &target,
                    &profile,
                    None,
                    false,
                )
                .await?;
            join_anywhere(&state, &target, room_id, Vec::new(), None, None).await?;
        }
    }
    let mut content = rooms
        .state_pdu(room_id, "m.room.power_levels", "")?
        .map(|levels| levels.content_json())
        .unwrap_or_else(|| json!({}));
    content["users"][target.as_str()] = new_level.into();
    rooms
        .send(
            room_id,
            &granter,
            EventSpec::state("m.room.power_levels", "", content),
            None,
        )
        .await?;
    Ok(Json(json!({})))
}

/// # `DELETE /_synapse/admin/v1/rooms/{roomId}/forward_extremities`
///
/// Keeps only the newest forward extremity, so the next event has one parent.
pub async fn delete_forward_extremities(
    State(state): State<AppState>,
    request: Ruma<endpoints::delete_forward_extremities::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let deleted = state
        .services
        .rooms
        .drop_extra_forward_extremities(&request.body.room_id)
        .await?;
    Ok(Json(json!({ "deleted": deleted })))
}
