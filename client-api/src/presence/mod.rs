//! Presence.
pub mod get_presence;
pub mod set_presence;

use myelin_core::{Result, ephemeral::PresenceStatus};
use std::collections::HashSet;

use ruma::{OwnedRoomId, UserId};
use serde_json::{Value as JsonValue, json};

use crate::AppState;

/// The rooms `viewer` is joined to, for repeated [`may_see`] checks.
pub(crate) fn viewer_rooms(state: &AppState, viewer: &UserId) -> Result<HashSet<OwnedRoomId>> {
    Ok(state
        .services
        .rooms
        .joined_rooms(viewer)?
        .into_iter()
        .collect())
}

/// Whether `viewer` (joined to `viewer_rooms`) may see `target`'s presence: themself, or someone
/// they share a room with. The target's rooms (usually few) are checked against the viewer's set,
/// so the cost follows the target, not the viewer's room count.
pub(crate) fn may_see(
    state: &AppState,
    viewer: &UserId,
    viewer_rooms: &HashSet<OwnedRoomId>,
    target: &UserId,
) -> Result<bool> {
    Ok(viewer == target
        || state
            .services
            .rooms
            .joined_rooms(target)?
            .iter()
            .any(|room| viewer_rooms.contains(room)))
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
