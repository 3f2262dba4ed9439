//! `GET /_matrix/client/v3/directory/list/room/{roomId}`

use axum::extract::State;
use ruma::api::client::{directory::get_room_visibility::v3, room::Visibility};

use crate::{ApiError, AppState, Ruma, RumaResponse};

/// # `GET /_matrix/client/v3/directory/list/room/{roomId}`
pub async fn get_room_visibility(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<RumaResponse<v3::Response>, ApiError> {
    let rooms = &state.services.rooms;
    rooms.existing_room(&request.body.room_id)?;
    let visibility = if rooms.is_published(&request.body.room_id)? {
        Visibility::Public
    } else {
        Visibility::Private
    };
    Ok(RumaResponse(v3::Response::new(visibility)))
}
