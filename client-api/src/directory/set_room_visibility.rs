//! `PUT /_matrix/client/v3/directory/list/room/{roomId}`

use axum::extract::State;
use myelin_core::Error;
use ruma::api::client::{directory::set_room_visibility::v3, room::Visibility};

use crate::{ApiError, AppState, Ruma, RumaResponse};

/// # `PUT /_matrix/client/v3/directory/list/room/{roomId}`
///
/// Needs the power to send `m.room.canonical_alias`, as Synapse requires.
pub async fn set_room_visibility(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<RumaResponse<v3::Response>, ApiError> {
    let identity = request.identity()?;
    let rooms = &state.services.rooms;
    let room_id = &request.body.room_id;
    rooms.existing_room(room_id)?;
    let required = rooms.power_level_for(room_id, "state_default", 50)?;
    if !rooms.is_joined(room_id, &identity.user_id)?
        || rooms.user_power_level(room_id, &identity.user_id)? < required
    {
        return Err(
            Error::Forbidden("You may not change this room's directory visibility".into()).into(),
        );
    }
    rooms
        .set_published(room_id, request.body.visibility == Visibility::Public)
        .await?;
    Ok(RumaResponse(v3::Response::new()))
}
