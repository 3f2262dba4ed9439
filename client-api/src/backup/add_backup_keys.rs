//! `PUT /_matrix/client/v3/room_keys/keys`

use axum::{Json, extract::State};
use ruma::api::client::backup::add_backup_keys::v3;
use serde_json::Value as JsonValue;

use crate::{ApiError, AppState, Ruma};

/// # `PUT /_matrix/client/v3/room_keys/keys`
pub async fn add_backup_keys(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let mut sessions = Vec::new();
    for (room_id, room) in &request.body.rooms {
        for (session_id, data) in &room.sessions {
            sessions.push((room_id.clone(), session_id.clone(), super::parse(data)?));
        }
    }
    let changed = state
        .services
        .users
        .put_backup_keys(&identity.user_id, &request.body.version, sessions)
        .await?;
    Ok(Json(super::keys_state(changed)))
}
