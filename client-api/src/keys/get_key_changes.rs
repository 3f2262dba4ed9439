//! `GET /_matrix/client/v3/keys/changes`

use std::collections::BTreeSet;

use axum::{Json, extract::State};
use myelin_core::stream::{StreamItem, items_between};
use ruma::api::client::keys::get_key_changes::v3;
use serde_json::{Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma, room::parse_token};

/// # `GET /_matrix/client/v3/keys/changes`
///
/// Between two sync tokens: users sharing a room with the caller whose devices or keys changed
/// or who newly share a room with them, and users who no longer share any room (as sync's
/// `device_lists`).
pub async fn get_key_changes(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let from = parse_token(&request.body.from)?;
    let to = parse_token(&request.body.to)?.min(state.services.notifier.current());
    let mut key_changes = BTreeSet::new();
    let mut room_events = Vec::new();
    for (position, item) in items_between(&state.services.store, from, to)? {
        match item {
            StreamItem::DeviceKeys { user_id, .. } | StreamItem::SigningKeys { user_id } => {
                key_changes.insert(user_id);
            }
            StreamItem::Event { room_id } => room_events.push((position, room_id)),
            _ => {}
        }
    }
    let changes =
        state
            .services
            .rooms
            .device_list_changes(&identity.user_id, key_changes, &room_events)?;
    Ok(Json(
        json!({ "changed": changes.changed, "left": changes.left }),
    ))
}
