//! `PUT /_matrix/client/v3/room_keys/keys/{roomId}`

use axum::{Json, extract::State};
use ruma::api::client::backup::add_backup_keys_for_room::v3;
use serde_json::Value as JsonValue;

use crate::{ApiError, AppState, Ruma};

/// # `PUT /_matrix/client/v3/room_keys/keys/{roomId}`
pub async fn add_backup_keys_for_room(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let body = &request.body;
    let sessions = body
        .sessions
        .iter()
        .map(|(session_id, data)| {
            Ok((
                body.room_id.clone(),
                session_id.clone(),
                super::parse(data)?,
            ))
        })
        .collect::<Result<_, ApiError>>()?;
    let changed = state
        .services
        .users
        .put_backup_keys(&identity.user_id, &body.version, sessions)
        .await?;
    Ok(Json(super::keys_state(changed)))
}
