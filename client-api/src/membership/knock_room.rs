//! `POST /_matrix/client/v3/knock/{roomIdOrAlias}`

use axum::extract::State;
use ruma::api::client::knock::knock_room::v3;

use crate::{ApiError, AppState, Ruma, RumaResponse, room::member_profile};

/// # `POST /_matrix/client/v3/knock/{roomIdOrAlias}`
pub async fn knock_room(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<RumaResponse<v3::Response>, ApiError> {
    let identity = request.identity()?;
    // Suspended accounts may read and leave, not act (spec 1.18).
    state
        .services
        .users
        .check_not_suspended(&identity.user_id)?;
    let rooms = &state.services.rooms;
    let (room_id, mut servers) =
        crate::room::resolve_room(&state, &request.body.room_id_or_alias).await?;
    let profile = member_profile(&state, &identity.user_id);
    if !rooms.is_resident(&room_id)?
        && let Ok(federation) = state.services.federation.get()
    {
        let mut via = request.body.via.clone();
        via.append(&mut servers);
        federation
            .knock_remote(
                &identity.user_id,
                &room_id,
                via,
                profile,
                request.body.reason.clone(),
            )
            .await?;
        return Ok(RumaResponse(v3::Response::new(room_id)));
    }
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
