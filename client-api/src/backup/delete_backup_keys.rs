//! `DELETE /_matrix/client/v3/room_keys/keys`

use axum::{Json, extract::State};
use myelin_core::users::BackupScope;
use ruma::api::client::backup::delete_backup_keys::v3;
use serde_json::Value as JsonValue;

use crate::{ApiError, AppState, Ruma};

/// # `DELETE /_matrix/client/v3/room_keys/keys`
pub async fn delete_backup_keys(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let changed = state
        .services
        .users
        .delete_backup_keys(&identity.user_id, &request.body.version, BackupScope::All)
        .await?;
    Ok(Json(super::keys_state(changed)))
}
