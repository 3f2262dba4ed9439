//! `GET /_matrix/client/v3/room_keys/keys/{roomId}`

use axum::{Json, extract::State};
use myelin_core::users::BackupScope;
use ruma::api::client::backup::get_backup_keys_for_room::v3;
use serde_json::{Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma};

/// # `GET /_matrix/client/v3/room_keys/keys/{roomId}`
///
/// A room without keys answers `{"sessions": {}}`, as Synapse does.
pub async fn get_backup_keys_for_room(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let body = &request.body;
    let sessions = state
        .services
        .users
        .backup_keys(
            &identity.user_id,
            &body.version,
            BackupScope::Room(&body.room_id),
        )?
        .remove(body.room_id.as_str())
        .unwrap_or_default();
    Ok(Json(json!({ "sessions": sessions })))
}
