//! `POST /_matrix/client/v3/join/{roomIdOrAlias}`

use axum::extract::State;
use ruma::api::client::membership::join_room_by_id_or_alias::v3;

use crate::{ApiError, AppState, Ruma, RumaResponse, room::join_anywhere};

/// # `POST /_matrix/client/v3/join/{roomIdOrAlias}`
///
/// Rooms this server is not in are joined through the servers the alias's server names, the
/// `via`/`server_name` hints, the room id's server or the inviter's server.
pub async fn join_room_by_id_or_alias(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<RumaResponse<v3::Response>, ApiError> {
    let identity = request.identity()?;
    // Suspended accounts may read and leave, not act (spec 1.18).
    state
        .services
        .users
        .check_not_suspended(&identity.user_id)?;
    let (room_id, mut servers) =
        crate::room::resolve_room(&state, &request.body.room_id_or_alias).await?;
    let mut via = request.body.via.clone();
    via.append(&mut servers);
    let room_id = join_anywhere(
        &state,
        &identity.user_id,
        &room_id,
        via,
        request.body.reason.as_deref(),
        request.json.as_ref(),
    )
    .await?;
    Ok(RumaResponse(v3::Response::new(room_id)))
}
