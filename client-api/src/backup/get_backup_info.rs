//! `GET /_matrix/client/v3/room_keys/version/{version}`

use axum::{Json, extract::State};
use ruma::api::client::backup::get_backup_info::v3;
use serde_json::Value as JsonValue;

use crate::{ApiError, AppState, Ruma};

/// # `GET /_matrix/client/v3/room_keys/version/{version}`
pub async fn get_backup_info(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let info = state
        .services
        .users
        .backup_info(&identity.user_id, Some(&request.body.version))?;
    Ok(Json(super::version_info(info)))
}
