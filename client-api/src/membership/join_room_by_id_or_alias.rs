//! `POST /_matrix/client/v3/join/{roomIdOrAlias}`

use axum::extract::State;
use ruma::api::client::membership::join_room_by_id_or_alias::v3;

use crate::{ApiError, AppState, Ruma, RumaResponse, room::member_profile};

/// # `POST /_matrix/client/v3/join/{roomIdOrAlias}`
///
/// Rooms on other servers arrive with federation; until then an unknown room is not found.
pub async fn join_room_by_id_or_alias(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<RumaResponse<v3::Response>, ApiError> {
    let identity = request.identity()?;
    let rooms = &state.services.rooms;
    let room_id = crate::room::resolve_room(&state, &request.body.room_id_or_alias)?;
    let profile = member_profile(&state, &identity.user_id);
    rooms
        .join(
            &room_id,
            &identity.user_id,
            &profile,
            request.body.reason.as_deref(),
        )
        .await?;
    Ok(RumaResponse(v3::Response::new(room_id)))
}
