//! `POST /_matrix/client/v3/rooms/{roomId}/invite`

use axum::extract::State;
use myelin_core::Error;
use ruma::api::client::membership::invite_user::v3::{self, InvitationRecipient};

use crate::{ApiError, AppState, Ruma, RumaResponse, room::member_profile};

/// # `POST /_matrix/client/v3/rooms/{roomId}/invite`
pub async fn invite_user(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<RumaResponse<v3::Response>, ApiError> {
    let identity = request.identity()?;
    // Suspended accounts may read and leave, not act (spec 1.18).
    state
        .services
        .users
        .check_not_suspended(&identity.user_id)?;
    let InvitationRecipient::UserId(recipient) = &request.body.recipient else {
        return Err(Error::Unsupported("Third-party invites are not supported".into()).into());
    };
    let users = &state.services.users;
    if users.is_local(&recipient.user_id)
        && users
            .account(&recipient.user_id)?
            .is_none_or(|account| account.deactivated)
    {
        return Err(Error::NotFound(format!("Unknown user {}", recipient.user_id)).into());
    }
    // A local invitee who does not take invites from the inviter (spec v1.18, MSC4155); an
    // ignored invite goes through and is hidden from the invitee.
    if users.is_local(&recipient.user_id)
        && users.invite_decision(&recipient.user_id, &identity.user_id)?
            == myelin_core::users::InviteDecision::Block
    {
        return Err(Error::InviteBlocked(format!(
            "{} does not take invites from you",
            recipient.user_id
        ))
        .into());
    }
    // A shadow-banned user's invite seems to go through and reaches nobody (Synapse).
    if users.is_shadow_banned(&identity.user_id) {
        return Ok(RumaResponse(v3::Response::new()));
    }
    let is_direct = request
        .json
        .as_ref()
        .and_then(|json| json.get("is_direct"))
        .and_then(|value| value.as_bool())
        .unwrap_or(false);
    let profile = member_profile(&state, &recipient.user_id);
    let federation = state.services.federation.get().ok();
    state
        .services
        .rooms
        .invite(
            federation.as_deref(),
            &request.body.room_id,
            &identity.user_id,
            &recipient.user_id,
            &profile,
            recipient.reason.as_deref(),
            is_direct,
        )
        .await?;
    Ok(RumaResponse(v3::Response::new()))
}
