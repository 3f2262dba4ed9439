//! Presence.
pub mod get_presence;
pub mod set_presence;

use myelin_core::{Result, ephemeral::PresenceStatus};
use ruma::UserId;
use serde_json::{Value as JsonValue, json};

use crate::AppState;

/// Whether `viewer` may see `target`'s presence: themself, or someone they share a room with.
pub(crate) fn may_see(state: &AppState, viewer: &UserId, target: &UserId) -> Result<bool> {
    if viewer == target {
        return Ok(true);
    }
    let rooms = &state.services.rooms;
    let theirs = rooms.joined_rooms(target)?;
    Ok(rooms
        .joined_rooms(viewer)?
        .iter()
        .any(|room| theirs.contains(room)))
}

/// The `m.presence` content of a status.
pub(crate) fn content(status: &PresenceStatus) -> JsonValue {
    let mut content =
        json!({ "presence": status.state.as_str(), "currently_active": status.currently_active });
    if let Some(ago) = status.last_active_ago {
        content["last_active_ago"] = ago.into();
    }
    if let Some(message) = &status.status_msg {
        content["status_msg"] = message.clone().into();
    }
    content
}
