//! `DELETE /_matrix/client/v3/profile/{userId}/{keyName}`

use axum::extract::State;
use ruma::api::client::profile::delete_profile_field::v3;

use crate::{ApiError, AppState, Ruma, RumaResponse};

/// # `DELETE /_matrix/client/v3/profile/{userId}/{keyName}`
pub async fn delete_profile_field(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<RumaResponse<v3::Response>, ApiError> {
    let identity = request.identity()?;
    // Suspended accounts may read and leave, not act (spec 1.18).
    state
        .services
        .users
        .check_not_suspended(&identity.user_id)?;
    if identity.user_id != request.body.user_id {
        return Err(ApiError::forbidden("You may only change your own profile"));
    }
    state
        .services
        .users
        .set_profile_field(&identity.user_id, request.body.field.as_str(), None)
        .await?;
    super::propagate_to_rooms(&state, &identity.user_id, request.body.field.as_str()).await;
    Ok(RumaResponse(v3::Response::new()))
}
