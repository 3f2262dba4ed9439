//! `GET /_matrix/client/v3/rooms/{roomId}/aliases`

use axum::extract::State;
use myelin_core::Error;
use ruma::api::client::room::aliases::v3;

use crate::{ApiError, AppState, Ruma, RumaResponse};

/// # `GET /_matrix/client/v3/rooms/{roomId}/aliases`
///
/// For the room's members, and for server administrators whatever room it is (Synapse lets
/// them, and admin tools such as synadm rely on it).
pub async fn get_room_aliases(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<RumaResponse<v3::Response>, ApiError> {
    let identity = request.identity()?;
    let rooms = &state.services.rooms;
    let admin = crate::admin::require_admin(&state, identity).is_ok();
    if !admin && !rooms.is_joined(&request.body.room_id, &identity.user_id)? {
        rooms.existing_room(&request.body.room_id)?;
        return Err(Error::Forbidden("You are not a member of this room".into()).into());
    }
    if admin {
        rooms.existing_room(&request.body.room_id)?;
    }
    Ok(RumaResponse(v3::Response::new(
        rooms.local_aliases(&request.body.room_id)?,
    )))
}
