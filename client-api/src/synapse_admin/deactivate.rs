//! `POST /_synapse/admin/v1/deactivate/{userId}`

use axum::{Json, extract::State};
use serde_json::{Value as JsonValue, json};
use synapse_admin_api::users::deactivate_account::v1;

use super::{local_account, require_admin};
use crate::{ApiError, AppState, Ruma};

/// # `POST /_synapse/admin/v1/deactivate/{userId}`
///
/// As Synapse: the account loses its password, devices and profile, leaves every room it is
/// in and declines its invites, and its pushers are removed. With `erase`, what the user sent
/// is served redacted from then on to everyone who was not in the room when it was sent.
pub async fn deactivate(
    State(state): State<AppState>,
    request: Ruma<v1::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let user_id = &request.body.user_id;
    local_account(&state, user_id)?;
    if request.body.erase {
        // Marked first: whatever happens next, what the user sent is no longer served whole
        // to anyone who was not in the room at the time.
        state.services.rooms.erase_sender(user_id).await?;
    }
    deactivate_everywhere(&state, user_id).await?;
    Ok(Json(json!({ "id_server_unbind_result": "success" })))
}

/// Deactivates a local account and takes it out of its rooms, invites and pushers (for the
/// administrator's and the user's own deactivation alike).
pub(crate) async fn deactivate_everywhere(
    state: &AppState,
    user_id: &ruma::UserId,
) -> Result<(), ApiError> {
    let services = &state.services;
    services.users.deactivate(user_id).await?;
    for pusher in services.users.pushers(user_id)? {
        services
            .users
            .remove_pusher(user_id, &pusher.app_id, &pusher.pushkey)
            .await?;
    }
    let mut rooms = services.rooms.joined_rooms(user_id)?;
    rooms.extend(services.rooms.invited_rooms(user_id)?);
    for room_id in rooms {
        if let Err(error) = services.rooms.leave(&room_id, user_id, None).await {
            tracing::warn!(%room_id, %user_id, %error, "a deactivated user could not leave a room");
        }
    }
    tracing::info!(%user_id, "account deactivated");
    Ok(())
}
