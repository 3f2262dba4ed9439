//! `GET /_matrix/client/v3/keys/changes`

use std::collections::BTreeSet;

use axum::{Json, extract::State};
use myelin_core::stream::{StreamItem, items_between};
use ruma::api::client::keys::get_key_changes::v3;
use serde_json::{Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma, room::parse_token};

/// # `GET /_matrix/client/v3/keys/changes`
///
/// Users sharing a room with the caller whose devices changed between two sync tokens.
pub async fn get_key_changes(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let from = parse_token(&request.body.from)?;
    let to = parse_token(&request.body.to)?.min(state.services.notifier.current());
    let changed: BTreeSet<_> = items_between(&state.services.store, from, to)?
        .into_iter()
        .filter_map(|(_, item)| match item {
            StreamItem::DeviceKeys { user_id, .. } | StreamItem::SigningKeys { user_id } => {
                Some(user_id)
            }
            _ => None,
        })
        .collect();
    let changed = state
        .services
        .rooms
        .users_sharing_a_room(&identity.user_id, changed)?;
    Ok(Json(json!({ "changed": changed, "left": [] })))
}
