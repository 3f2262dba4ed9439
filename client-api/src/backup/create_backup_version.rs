//! `POST /_matrix/client/v3/room_keys/version`

use axum::{Json, extract::State};
use ruma::api::client::backup::create_backup_version::v3;
use serde_json::{Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma};

/// # `POST /_matrix/client/v3/room_keys/version`
pub async fn create_backup_version(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let (algorithm, auth_data) =
        super::algorithm_and_auth_data(&super::parse(&request.body.algorithm)?)?;
    let version = state
        .services
        .users
        .create_backup_version(&identity.user_id, algorithm, auth_data)
        .await?;
    Ok(Json(json!({ "version": version })))
}
