//! `POST /_matrix/client/v3/knock/{roomIdOrAlias}`

use axum::extract::State;
use myelin_core::Error;
use ruma::{OwnedRoomId, RoomAliasId, RoomId, api::client::knock::knock_room::v3};

use crate::{ApiError, AppState, Ruma, RumaResponse, room::member_profile};

/// # `POST /_matrix/client/v3/knock/{roomIdOrAlias}`
pub async fn knock_room(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<RumaResponse<v3::Response>, ApiError> {
    let identity = request.identity()?;
    let rooms = &state.services.rooms;
    let target = request.body.room_id_or_alias.as_str();
    let room_id: OwnedRoomId = if target.starts_with('#') {
        let alias = RoomAliasId::parse(target)
            .map_err(|_| Error::InvalidParam("Invalid room alias".into()))?;
        rooms
            .resolve_local_alias(&alias)?
            .ok_or_else(|| Error::NotFound("Room alias not found".into()))?
    } else {
        RoomId::parse(target).map_err(|_| Error::InvalidParam("Invalid room id".into()))?
    };
    let profile = member_profile(&state, &identity.user_id);
    rooms
        .knock(
            &room_id,
            &identity.user_id,
            &profile,
            request.body.reason.as_deref(),
        )
        .await?;
    Ok(RumaResponse(v3::Response::new(room_id)))
}
