//! `GET /_matrix/client/v3/joined_rooms`

use axum::extract::State;
use ruma::api::client::membership::joined_rooms::v3;

use crate::{ApiError, AppState, Ruma, RumaResponse};

/// # `GET /_matrix/client/v3/joined_rooms`
pub async fn joined_rooms(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<RumaResponse<v3::Response>, ApiError> {
    let identity = request.identity()?;
    Ok(RumaResponse(v3::Response::new(
        state.services.rooms.joined_rooms(&identity.user_id)?,
    )))
}
