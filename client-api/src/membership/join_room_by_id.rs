//! `POST /_matrix/client/v3/rooms/{roomId}/join`

use axum::extract::State;
use ruma::api::client::membership::join_room_by_id::v3;

use crate::{ApiError, AppState, Ruma, RumaResponse, room::member_profile};

/// # `POST /_matrix/client/v3/rooms/{roomId}/join`
pub async fn join_room_by_id(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<RumaResponse<v3::Response>, ApiError> {
    let identity = request.identity()?;
    let room_id = &request.body.room_id;
    let profile = member_profile(&state, &identity.user_id);
    state
        .services
        .rooms
        .join(
            room_id,
            &identity.user_id,
            &profile,
            request.body.reason.as_deref(),
        )
        .await?;
    Ok(RumaResponse(v3::Response::new(room_id.clone())))
}
