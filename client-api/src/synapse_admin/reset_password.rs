//! `POST /_synapse/admin/v1/reset_password/{userId}`

use axum::{Json, extract::State};
use serde_json::{Value as JsonValue, json};
use synapse_admin_api::users::reset_password::v1;

use super::{local_account, require_admin};
use crate::{ApiError, AppState, Ruma};

/// # `POST /_synapse/admin/v1/reset_password/{userId}`
///
/// Every device is logged out unless `logout_devices` is `false` (Synapse's default).
pub async fn reset_password(
    State(state): State<AppState>,
    request: Ruma<v1::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let body = &request.body;
    local_account(&state, &body.user_id)?;
    state
        .services
        .users
        .set_password(&body.user_id, &body.new_password, body.logout_devices, None)
        .await?;
    Ok(Json(json!({})))
}
