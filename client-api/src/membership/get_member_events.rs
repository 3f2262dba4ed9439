//! `GET /_matrix/client/v3/rooms/{roomId}/members`

use axum::{Json, extract::State};
use myelin_core::Error;
use ruma::api::client::membership::get_member_events::v3;
use serde_json::{Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma};

/// # `GET /_matrix/client/v3/rooms/{roomId}/members`
///
/// Members as of now. `at` (members at an earlier point) needs historical state snapshots,
/// which the store does not keep yet: asking for it is refused rather than answered wrongly.
pub async fn get_member_events(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let rooms = &state.services.rooms;
    let body = &request.body;
    if !rooms.is_joined(&body.room_id, &identity.user_id)? {
        rooms.readable_until(&body.room_id, &identity.user_id)?;
        return Err(Error::Forbidden("Members of a room you left are not available".into()).into());
    }
    if body.at.is_some() {
        return Err(Error::Unsupported("The `at` parameter is not supported yet".into()).into());
    }
    let wanted = body
        .membership
        .as_ref()
        .map(|membership| membership.as_str().to_owned());
    let unwanted = body
        .not_membership
        .as_ref()
        .map(|membership| membership.as_str().to_owned());
    let chunk: Vec<JsonValue> = rooms
        .member_events(&body.room_id)?
        .iter()
        .filter(|event| {
            let membership = event
                .content_json()
                .get("membership")
                .and_then(JsonValue::as_str)
                .unwrap_or_default()
                .to_owned();
            wanted.as_ref().is_none_or(|wanted| *wanted == membership)
                && unwanted
                    .as_ref()
                    .is_none_or(|unwanted| *unwanted != membership)
        })
        .map(|event| crate::room::client_event(&state, event, identity, true))
        .collect();
    Ok(Json(json!({ "chunk": chunk })))
}
