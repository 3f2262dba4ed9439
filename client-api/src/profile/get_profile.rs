//! `GET /_matrix/client/v3/profile/{userId}`

use axum::{Json, extract::State};
use ruma::api::client::profile::get_profile::v3;
use serde_json::{Map, Value as JsonValue};

use crate::{ApiError, AppState, Ruma};

/// # `GET /_matrix/client/v3/profile/{userId}`
pub async fn get_profile(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<Map<String, JsonValue>>, ApiError> {
    super::require_local(&state, &request.body.user_id)?;
    Ok(Json(state.services.users.profile(&request.body.user_id)?))
}
