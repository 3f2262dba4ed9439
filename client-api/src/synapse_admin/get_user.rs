//! `GET /_synapse/admin/v2/users/{userId}`

use axum::{Json, extract::State};
use serde_json::Value as JsonValue;
use synapse_admin_api::users::get_details::v2;

use super::{local_account, require_admin, user_details};
use crate::{ApiError, AppState, Ruma};

/// # `GET /_synapse/admin/v2/users/{userId}`
pub async fn get_user(
    State(state): State<AppState>,
    request: Ruma<v2::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let user_id = &request.body.user_id;
    let record = local_account(&state, user_id)?;
    Ok(Json(user_details(&state, user_id, &record)?))
}
