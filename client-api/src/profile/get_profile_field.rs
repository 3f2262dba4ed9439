//! `GET /_matrix/client/v3/profile/{userId}/{keyName}`

use axum::{Json, extract::State};
use ruma::api::client::profile::get_profile_field::v3;
use serde_json::{Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma};

/// # `GET /_matrix/client/v3/profile/{userId}/{keyName}`
pub async fn get_profile_field(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    super::require_local(&state, &request.body.user_id)?;
    let field = request.body.field.as_str();
    let value = state
        .services
        .users
        .profile_field(&request.body.user_id, field)?;
    Ok(Json(json!({ field: value })))
}
