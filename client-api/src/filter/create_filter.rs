//! `POST /_matrix/client/v3/user/{userId}/filter`

use axum::extract::State;
use ruma::api::client::filter::create_filter::v3;

use crate::{ApiError, AppState, Ruma, RumaResponse};

/// # `POST /_matrix/client/v3/user/{userId}/filter`
///
/// The filter is stored as the client sent it (after ruma checked its shape), so fields newer
/// than ruma's model survive a round trip.
pub async fn create_filter(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<RumaResponse<v3::Response>, ApiError> {
    let identity = request.identity()?;
    if identity.user_id != request.body.user_id {
        return Err(ApiError::forbidden("Cannot create filters for other users"));
    }
    crate::filtering::check_definition(&request.body.filter)?;
    let filter = request
        .json
        .clone()
        .unwrap_or_else(|| serde_json::json!({}));
    let filter_id = state
        .services
        .users
        .create_filter(&identity.user_id, filter)
        .await?;
    Ok(RumaResponse(v3::Response::new(filter_id)))
}
