//! `DELETE /_matrix/client/v3/room_keys/keys/{roomId}`

use axum::{Json, extract::State};
use myelin_core::users::BackupScope;
use ruma::api::client::backup::delete_backup_keys_for_room::v3;
use serde_json::Value as JsonValue;

use crate::{ApiError, AppState, Ruma};

/// # `DELETE /_matrix/client/v3/room_keys/keys/{roomId}`
pub async fn delete_backup_keys_for_room(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let body = &request.body;
    let changed = state
        .services
        .users
        .delete_backup_keys(
            &identity.user_id,
            &body.version,
            BackupScope::Room(&body.room_id),
        )
        .await?;
    Ok(Json(super::keys_state(changed)))
}
