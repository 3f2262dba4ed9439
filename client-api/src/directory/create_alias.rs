//! `PUT /_matrix/client/v3/directory/room/{roomAlias}`

use axum::extract::State;
use myelin_core::Error;
use ruma::api::client::alias::create_alias::v3;

use crate::{ApiError, AppState, Ruma, RumaResponse};

/// # `PUT /_matrix/client/v3/directory/room/{roomAlias}`
///
/// Like Synapse, any member of the room may add an alias for it.
pub async fn create_alias(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<RumaResponse<v3::Response>, ApiError> {
    let identity = request.identity()?;
    let rooms = &state.services.rooms;
    let body = &request.body;
    if let Some(owner) = state
        .services
        .appservices
        .exclusive_alias_owner(&body.room_alias)
        && identity.appservice_id.as_deref() != Some(owner.id())
    {
        return Err(Error::Exclusive(format!(
            "{} is reserved by the appservice {}",
            body.room_alias,
            owner.id()
        ))
        .into());
    }
    if !rooms.is_joined(&body.room_id, &identity.user_id)? {
        rooms.existing_room(&body.room_id)?;
        return Err(Error::Forbidden("You must be in the room to give it an alias".into()).into());
    }
    // A taken alias is 409 here, as the spec and Synapse have it (createRoom says 400
    // M_ROOM_IN_USE for the same conflict).
    rooms
        .set_local_alias(&body.room_alias, &body.room_id, &identity.user_id)
        .await
        .map_err(|error| match error {
            Error::RoomInUse(message) => {
                ApiError::http(axum::http::StatusCode::CONFLICT, "M_UNKNOWN", message)
            }
            other => other.into(),
        })?;
    Ok(RumaResponse(v3::Response::new()))
}
