//! `GET /_matrix/client/v3/rooms/{roomId}/members`

use axum::{Json, extract::State};
use ruma::api::client::membership::get_member_events::v3;
use serde_json::{Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma};

/// # `GET /_matrix/client/v3/rooms/{roomId}/members`
///
/// Members now, or as of the `at` token. A user who left sees the members as of their leaving,
/// as in Synapse.
pub async fn get_member_events(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let rooms = &state.services.rooms;
    let body = &request.body;
    let readable_until = rooms.readable_until(&body.room_id, &identity.user_id)?;
    let at = body
        .at
        .as_deref()
        .map(crate::room::parse_token)
        .transpose()?;
    let joined = rooms.is_joined(&body.room_id, &identity.user_id)?;
    let members = match at {
        None if joined => rooms.member_events(&body.room_id)?,
        at => rooms.members_at(
            &body.room_id,
            at.unwrap_or(readable_until).min(readable_until),
        )?,
    };
    let wanted = body
        .membership
        .as_ref()
        .map(|membership| membership.as_str().to_owned());
    let unwanted = body
        .not_membership
        .as_ref()
        .map(|membership| membership.as_str().to_owned());
    let chunk: Vec<JsonValue> = members
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
