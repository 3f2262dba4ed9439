//! `GET /_synapse/admin/v1/users/{userId}/joined_rooms`

use axum::{Json, extract::State};
use serde_json::{Value as JsonValue, json};
use synapse_admin_api::users::list_joined_rooms::v1;

use super::{local_account, require_admin};
use crate::{ApiError, AppState, Ruma};

/// # `GET /_synapse/admin/v1/users/{userId}/joined_rooms`
pub async fn joined_rooms(
    State(state): State<AppState>,
    request: Ruma<v1::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let user_id = &request.body.user_id;
    local_account(&state, user_id)?;
    let rooms = state.services.rooms.joined_rooms(user_id)?;
    Ok(Json(json!({ "total": rooms.len(), "joined_rooms": rooms })))
}
