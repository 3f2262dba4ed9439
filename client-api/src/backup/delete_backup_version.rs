//! `DELETE /_matrix/client/v3/room_keys/version/{version}`

use axum::{Json, extract::State};
use ruma::api::client::backup::delete_backup_version::v3;
use serde_json::{Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma};

/// # `DELETE /_matrix/client/v3/room_keys/version/{version}`
///
/// Deletes the version and every key in it.
pub async fn delete_backup_version(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    state
        .services
        .users
        .delete_backup_version(&identity.user_id, &request.body.version)
        .await?;
    Ok(Json(json!({})))
}
