//! `GET /_matrix/client/v3/rooms/{roomId}/joined_members`

use axum::{Json, extract::State};
use myelin_core::Error;
use ruma::api::client::membership::joined_members::v3;
use serde_json::{Map, Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma};

/// # `GET /_matrix/client/v3/rooms/{roomId}/joined_members`
pub async fn joined_members(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let rooms = &state.services.rooms;
    if !rooms.is_joined(&request.body.room_id, &identity.user_id)? {
        rooms.existing_room(&request.body.room_id)?;
        return Err(Error::Forbidden("You are not a member of this room".into()).into());
    }
    let mut joined = Map::new();
    for event in rooms.joined_members(&request.body.room_id)? {
        let content = event.content_json();
        let mut member = Map::new();
        for (from, to) in [
            ("displayname", "display_name"),
            ("avatar_url", "avatar_url"),
        ] {
            // Both keys always, `null` when unset, as Synapse answers.
            let value = content
                .get(from)
                .filter(|value| value.is_string())
                .cloned()
                .unwrap_or(JsonValue::Null);
            member.insert(to.into(), value);
        }
        joined.insert(
            event.state_key.clone().unwrap_or_default(),
            JsonValue::Object(member),
        );
    }
    Ok(Json(json!({ "joined": joined })))
}
