//! `POST /_synapse/admin/v1/join/{roomIdOrAlias}`: joins a local user to a room.

use axum::{Json, extract::State};
use myelin_core::Error;
use serde_json::{Value as JsonValue, json};
use synapse_admin_api::room_membership::join_room::v1;

use super::{local_account, require_admin};
use crate::{ApiError, AppState, Ruma, room::join_anywhere};

/// # `POST /_synapse/admin/v1/join/{roomIdOrAlias}`
///
/// As Synapse: the user joins as if they had asked; a room they may not join (invite only) is
/// opened by an invite from the administrator when the administrator is in it and may invite.
pub async fn join_room(
    State(state): State<AppState>,
    request: Ruma<v1::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    require_admin(&state, identity)?;
    let user_id = &request.body.user_id;
    if local_account(&state, user_id)?.deactivated {
        return Err(Error::UserDeactivated.into());
    }
    let (room_id, via) = crate::room::resolve_room(&state, &request.body.room_id_or_alias).await?;
    let joined = join_anywhere(&state, user_id, &room_id, via.clone(), None, None).await;
    let room_id = match joined {
        Ok(room_id) => room_id,
        Err(ApiError::Core(Error::Forbidden(reason))) => {
            let rooms = &state.services.rooms;
            if !rooms.is_joined(&room_id, &identity.user_id)? {
                return Err(Error::Forbidden(reason).into());
            }
            let profile = crate::room::member_profile(&state, user_id);
            let federation = state.services.federation.get().ok();
            rooms
                .invite(
                    federation.as_deref(),
                    &room_id,
                    &identity.user_id,
                    user_id,
                    &profile,
                    None,
                    false,
                )
                .await?;
            join_anywhere(&state, user_id, &room_id, via, None, None).await?
        }
        Err(other) => return Err(other),
    };
    tracing::info!(%user_id, %room_id, admin = %identity.user_id, "an administrator joined a user to a room");
    Ok(Json(json!({ "room_id": room_id })))
}
