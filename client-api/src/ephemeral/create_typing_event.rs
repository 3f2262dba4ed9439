//! `PUT /_matrix/client/v3/rooms/{roomId}/typing/{userId}`

use axum::extract::State;
use myelin_core::Error;
use ruma::api::client::typing::create_typing_event::v3::{self, Typing};

use crate::{ApiError, AppState, Ruma, RumaResponse};

/// # `PUT /_matrix/client/v3/rooms/{roomId}/typing/{userId}`
pub async fn create_typing_event(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<RumaResponse<v3::Response>, ApiError> {
    let identity = request.identity()?;
    let body = &request.body;
    if body.user_id != identity.user_id {
        return Err(Error::Forbidden("You may only set your own typing state".into()).into());
    }
    if !state
        .services
        .rooms
        .is_joined(&body.room_id, &identity.user_id)?
    {
        state.services.rooms.existing_room(&body.room_id)?;
        return Err(Error::Forbidden("You are not in this room".into()).into());
    }
    // A shadow-banned user's typing reaches nobody (Synapse's typing handler drops it).
    if state.services.users.is_shadow_banned(&identity.user_id) {
        return Ok(RumaResponse(v3::Response::new()));
    }
    let timeout = match &body.state {
        Typing::Yes(info) => Some(info.timeout),
        _ => None,
    };
    state
        .services
        .typing
        .set(&body.room_id, &identity.user_id, timeout);
    Ok(RumaResponse(v3::Response::new()))
}
