//! `GET` and `PUT /_synapse/admin/v1/users/{userId}/admin`

use axum::{Json, extract::State};
use myelin_core::Error;
use serde_json::{Value as JsonValue, json};
use synapse_admin_api::users::is_user_admin::v1;

use super::{endpoints::set_user_admin, local_account, require_admin};
use crate::{ApiError, AppState, Ruma};

/// # `GET /_synapse/admin/v1/users/{userId}/admin`
pub async fn get_admin(
    State(state): State<AppState>,
    request: Ruma<v1::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let record = local_account(&state, &request.body.user_id)?;
    Ok(Json(json!({ "admin": record.admin })))
}

/// # `PUT /_synapse/admin/v1/users/{userId}/admin`
///
/// An administrator cannot take their own rights away (Synapse refuses it too), so a server
/// is never left without one by accident.
pub async fn set_admin(
    State(state): State<AppState>,
    request: Ruma<set_user_admin::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    require_admin(&state, identity)?;
    let body = &request.body;
    local_account(&state, &body.user_id)?;
    if body.user_id == identity.user_id && !body.admin {
        return Err(Error::InvalidParam("You may not demote yourself.".into()).into());
    }
    state
        .services
        .users
        .set_admin(&body.user_id, body.admin)
        .await?;
    Ok(Json(json!({})))
}
