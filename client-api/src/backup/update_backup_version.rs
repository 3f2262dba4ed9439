//! `PUT /_matrix/client/v3/room_keys/version/{version}`

use axum::{Json, extract::State};
use ruma::api::client::backup::update_backup_version::v3;
use serde_json::{Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma};

/// # `PUT /_matrix/client/v3/room_keys/version/{version}`
///
/// Replaces the auth data; a `version` in the body must match the path (as Synapse checks).
pub async fn update_backup_version(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let body = super::parse(&request.body.algorithm)?;
    if let Some(version) = body.get("version")
        && version.as_str() != Some(request.body.version.as_str())
    {
        return Err(myelin_core::Error::InvalidParam(
            "The version in the body does not match the path".into(),
        )
        .into());
    }
    let (algorithm, auth_data) = super::algorithm_and_auth_data(&body)?;
    state
        .services
        .users
        .update_backup_version(
            &identity.user_id,
            &request.body.version,
            &algorithm,
            auth_data,
        )
        .await?;
    Ok(Json(json!({})))
}
