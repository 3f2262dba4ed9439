//! `GET /_matrix/client/v3/user/{userId}/account_data/{type}`

use axum::{Json, extract::State};
use myelin_core::Error;
use ruma::api::client::config::get_global_account_data::v3;
use serde_json::Value as JsonValue;

use crate::{ApiError, AppState, Ruma};

/// # `GET /_matrix/client/v3/user/{userId}/account_data/{type}`
pub async fn get_global_account_data(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    super::require_own(request.identity()?, &request.body.user_id)?;
    let content = state
        .services
        .users
        .account_data(
            &request.body.user_id,
            None,
            &request.body.event_type.to_string(),
        )?
        .filter(|content| !super::delete::is_deleted(content))
        .ok_or_else(|| Error::NotFound("Account data not found".into()))?;
    Ok(Json(content))
}
