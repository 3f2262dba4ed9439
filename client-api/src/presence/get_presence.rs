//! `GET /_matrix/client/v3/presence/{userId}/status`

use axum::{Json, extract::State};
use myelin_core::Error;
use ruma::api::client::presence::get_presence::v3;
use serde_json::Value as JsonValue;

use crate::{ApiError, AppState, Ruma};

/// # `GET /_matrix/client/v3/presence/{userId}/status`
pub async fn get_presence(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let target = &request.body.user_id;
    if !state.services.users.is_local(target) || state.services.users.account(target)?.is_none() {
        return Err(Error::NotFound("Unknown user".into()).into());
    }
    if !super::may_see(
        &state,
        &identity.user_id,
        &super::viewer_rooms(&state, &identity.user_id)?,
        target,
    )? {
        return Err(Error::Forbidden("You do not share a room with this user".into()).into());
    }
    Ok(Json(super::content(
        &state.services.presence.status(target),
    )))
}
