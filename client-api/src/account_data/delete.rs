//! Account data deletion (MSC3391): `DELETE /_matrix/client/unstable/org.matrix.msc3391/user/
//! {userId}[/rooms/{roomId}]/account_data/{type}`.
//!
//! As in Synapse, a deleted entry is kept with empty content: `GET` answers 404 for it, an
//! initial sync leaves it out, and an incremental sync sends it empty, which is how clients
//! learn that it is gone.

use axum::{
    Json,
    extract::{Path, Request, State},
};
use ruma::{OwnedRoomId, OwnedUserId};
use serde_json::{Value as JsonValue, json};

use crate::{ApiError, AppState, extract::authenticate_parts};

/// # `DELETE …/org.matrix.msc3391/user/{userId}/account_data/{type}`
pub async fn delete_global_account_data(
    State(state): State<AppState>,
    Path((user_id, event_type)): Path<(String, String)>,
    request: Request,
) -> Result<Json<JsonValue>, ApiError> {
    delete(&state, request, &user_id, None, &event_type).await
}

/// # `DELETE …/org.matrix.msc3391/user/{userId}/rooms/{roomId}/account_data/{type}`
pub async fn delete_room_account_data(
    State(state): State<AppState>,
    Path((user_id, room_id, event_type)): Path<(String, String, String)>,
    request: Request,
) -> Result<Json<JsonValue>, ApiError> {
    delete(&state, request, &user_id, Some(&room_id), &event_type).await
}

async fn delete(
    state: &AppState,
    request: Request,
    user_id: &str,
    room_id: Option<&str>,
    event_type: &str,
) -> Result<Json<JsonValue>, ApiError> {
    let (parts, _) = request.into_parts();
    let identity = authenticate_parts(&parts, state)?;
    let user_id = OwnedUserId::try_from(user_id)
        .map_err(|error| myelin_core::Error::InvalidParam(format!("Bad user id: {error}")))?;
    super::require_own(&identity, &user_id)?;
    super::require_settable(event_type)?;
    let room_id = room_id
        .map(OwnedRoomId::try_from)
        .transpose()
        .map_err(|error| myelin_core::Error::InvalidParam(format!("Bad room id: {error}")))?;
    let users = &state.services.users;
    // Deleting what is not there changes nothing (Synapse answers 200 too).
    if users
        .account_data(&user_id, room_id.as_deref(), event_type)?
        .is_some_and(|content| !is_deleted(&content))
    {
        users
            .set_account_data(&user_id, room_id.as_deref(), event_type, json!({}))
            .await?;
    }
    Ok(Json(json!({})))
}

/// Whether stored account data content marks a deleted entry.
pub(crate) fn is_deleted(content: &JsonValue) -> bool {
    content.as_object().is_some_and(serde_json::Map::is_empty)
}
