//! `GET /_matrix/client/v3/room_keys/keys`

use axum::{Json, extract::State};
use myelin_core::users::BackupScope;
use ruma::api::client::backup::get_backup_keys::v3;
use serde_json::{Map, Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma};

/// # `GET /_matrix/client/v3/room_keys/keys`
pub async fn get_backup_keys(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let rooms: Map<String, JsonValue> = state
        .services
        .users
        .backup_keys(&identity.user_id, &request.body.version, BackupScope::All)?
        .into_iter()
        .map(|(room_id, sessions)| (room_id, json!({ "sessions": sessions })))
        .collect();
    Ok(Json(json!({ "rooms": rooms })))
}
