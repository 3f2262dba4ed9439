//! `GET /_matrix/client/v3/room_keys/version`

use axum::{Json, extract::State};
use ruma::api::client::backup::get_latest_backup_info::v3;
use serde_json::Value as JsonValue;

use crate::{ApiError, AppState, Ruma};

/// # `GET /_matrix/client/v3/room_keys/version`
///
/// The current version; `404 M_NOT_FOUND` when there is none.
pub async fn get_latest_backup_info(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let info = state.services.users.backup_info(&identity.user_id, None)?;
    Ok(Json(super::version_info(info)))
}
