//! `PUT /_matrix/client/v3/presence/{userId}/status`

use axum::extract::State;
use myelin_core::{Error, ephemeral::PresenceState};
use ruma::api::client::presence::set_presence::v3;

use crate::{ApiError, AppState, Ruma, RumaResponse};

/// # `PUT /_matrix/client/v3/presence/{userId}/status`
pub async fn set_presence(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<RumaResponse<v3::Response>, ApiError> {
    let identity = request.identity()?;
    let body = &request.body;
    if body.user_id != identity.user_id {
        return Err(Error::Forbidden("You may only set your own presence".into()).into());
    }
    let presence = PresenceState::parse(body.presence.as_str())
        .ok_or_else(|| Error::InvalidParam("Unknown presence state".into()))?;
    if body
        .status_msg
        .as_ref()
        .is_some_and(|message| message.len() > 1024)
    {
        return Err(Error::InvalidParam("status_msg is too long".into()).into());
    }
    state
        .services
        .presence
        .set(&identity.user_id, presence, body.status_msg.clone())
        .await?;
    Ok(RumaResponse(v3::Response::new()))
}
