//! `DELETE /_synapse/admin/v2/rooms/{roomId}` and its status endpoints: shutting a room down.
//! Every local member leaves (the other servers hear of it), the room leaves the directory and
//! loses its local aliases, and, as asked, it is blocked (no local user joins again) and purged
//! (everything stored of it goes). Synapse runs this in the background and reports through
//! `delete_status`; Myelin runs it before answering and keeps the report for those endpoints
//! (in memory: until the next restart).

use axum::{Json, extract::State};
use myelin_core::{Error, lock};
use serde_json::{Value as JsonValue, json};

use super::{endpoints, require_admin};
use crate::{ApiError, AppState, Ruma};

/// # `DELETE /_synapse/admin/v2/rooms/{roomId}`
pub async fn delete_room(
    State(state): State<AppState>,
    request: Ruma<endpoints::delete_room::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    require_admin(&state, identity)?;
    let body = &request.body;
    if body.new_room_user_id.is_some() {
        // Synapse moves the members to a new room made by that user: not built here.
        return Err(
            Error::InvalidParam("new_room_user_id is not supported by this server".into()).into(),
        );
    }
    let rooms = &state.services.rooms;
    let room_id = &body.room_id;
    let known = rooms.room_info(room_id)?.is_some();
    if !known && !body.block {
        return Err(Error::NotFound("Unknown room".into()).into());
    }
    let mut kicked = Vec::new();
    let mut failed = Vec::new();
    let mut aliases = Vec::new();
    if known {
        for member in rooms.local_joined_members(room_id)? {
            let reason = body
                .message
                .as_deref()
                .or(Some("This room has been shut down"));
            match rooms.leave(room_id, &member, reason).await {
                Ok(()) => kicked.push(member),
                Err(error) => {
                    tracing::warn!(%room_id, %member, %error, "a member could not be made to leave");
                    failed.push(member);
                }
            }
        }
        // Invites of local users are declined too.
        for member in rooms.local_invited_members(room_id)? {
            let _ = rooms.leave(room_id, &member, None).await;
        }
        rooms.set_published(room_id, false).await?;
        aliases = rooms.remove_local_aliases(room_id).await?;
    }
    if body.block {
        rooms.set_blocked(room_id, Some(&identity.user_id)).await?;
    }
    if known && body.purge {
        rooms.purge_room(room_id).await?;
    }
    let delete_id = myelin_core::ids::random_string(16);
    let report = json!({
        "delete_id": delete_id,
        "status": "complete",
        "shutdown_room": {
            "kicked_users": kicked,
            "failed_to_kick_users": failed,
            "local_aliases": aliases,
            "new_room_id": null,
        },
    });
    lock(&state.admin_deletions).push((room_id.to_owned(), report));
    Ok(Json(json!({ "delete_id": delete_id })))
}

/// # `GET /_synapse/admin/v2/rooms/{roomId}/delete_status`
pub async fn room_delete_status(
    State(state): State<AppState>,
    request: Ruma<endpoints::room_delete_status::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let results: Vec<JsonValue> = lock(&state.admin_deletions)
        .iter()
        .filter(|(room_id, _)| *room_id == request.body.room_id)
        .map(|(_, report)| report.clone())
        .collect();
    if results.is_empty() {
        return Err(Error::NotFound("No delete task for room".into()).into());
    }
    Ok(Json(json!({ "results": results })))
}

/// # `GET /_synapse/admin/v2/rooms/delete_status/{deleteId}`
pub async fn delete_status(
    State(state): State<AppState>,
    request: Ruma<endpoints::delete_status::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    lock(&state.admin_deletions)
        .iter()
        .find(|(_, report)| report["delete_id"] == request.body.delete_id.as_str())
        .map(|(_, report)| Json(report.clone()))
        .ok_or_else(|| Error::NotFound("delete id not found".into()).into())
}
