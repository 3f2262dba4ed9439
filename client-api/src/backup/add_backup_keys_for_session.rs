//! `PUT /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}`

use axum::{Json, extract::State};
use ruma::api::client::backup::add_backup_keys_for_session::v3;
use serde_json::Value as JsonValue;

use crate::{ApiError, AppState, Ruma};

/// # `PUT /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}`
pub async fn add_backup_keys_for_session(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let body = &request.body;
    let session = (
        body.room_id.clone(),
        body.session_id.clone(),
        super::parse(&body.session_data)?,
    );
    let changed = state
        .services
        .users
        .put_backup_keys(&identity.user_id, &body.version, vec![session])
        .await?;
    Ok(Json(super::keys_state(changed)))
}
