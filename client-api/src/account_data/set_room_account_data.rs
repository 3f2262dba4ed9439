//! `PUT /_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type}`

use axum::{Json, extract::State};
use ruma::api::client::config::set_room_account_data::v3;
use serde_json::{Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma};

/// # `PUT /_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type}`
pub async fn set_room_account_data(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    super::require_own(request.identity()?, &request.body.user_id)?;
    let event_type = request.body.event_type.to_string();
    super::require_settable(&event_type)?;
    let content = super::content(request.json)?;
    state
        .services
        .users
        .set_account_data(
            &request.body.user_id,
            Some(&request.body.room_id),
            &event_type,
            content,
        )
        .await?;
    Ok(Json(json!({})))
}
