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
    let field = request.body.field.as_str();
    let user_id = &request.body.user_id;
    if !state.services.users.is_local(user_id) {
        let profile = state
            .services
            .federation
            .get()?
            .query_profile(user_id, Some(field))
            .await?;
        return match profile.get(field) {
            Some(value) => Ok(Json(json!({ field: value }))),
            None => Err(myelin_core::Error::NotFound("Profile field not found".into()).into()),
        };
    }
    let value = state
        .services
        .users
        .profile_field(&request.body.user_id, field)?;
    Ok(Json(json!({ field: value })))
}
