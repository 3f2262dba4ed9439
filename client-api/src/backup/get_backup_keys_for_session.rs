//! `GET /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}`

use axum::{Json, extract::State};
use myelin_core::{Error, users::BackupScope};
use ruma::api::client::backup::get_backup_keys_for_session::v3;
use serde_json::Value as JsonValue;

use crate::{ApiError, AppState, Ruma};

/// # `GET /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}`
pub async fn get_backup_keys_for_session(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let body = &request.body;
    let scope = BackupScope::Session(&body.room_id, &body.session_id);
    let session = state
        .services
        .users
        .backup_keys(&identity.user_id, &body.version, scope)?
        .remove(body.room_id.as_str())
        .and_then(|mut sessions| sessions.remove(&body.session_id))
        .ok_or_else(|| Error::NotFound("No backed-up key for this session".into()))?;
    Ok(Json(session))
}
