//! `GET /_matrix/client/v3/user/{userId}/filter/{filterId}`

use axum::{Json, extract::State};
use ruma::api::client::filter::get_filter::v3;
use serde_json::Value as JsonValue;

use crate::{ApiError, AppState, Ruma};

/// # `GET /_matrix/client/v3/user/{userId}/filter/{filterId}`
pub async fn get_filter(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    if identity.user_id != request.body.user_id {
        return Err(ApiError::forbidden("Cannot read filters of other users"));
    }
    Ok(Json(
        state
            .services
            .users
            .filter(&identity.user_id, &request.body.filter_id)?,
    ))
}
