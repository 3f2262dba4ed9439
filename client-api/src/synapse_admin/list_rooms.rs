//! `GET /_synapse/admin/v1/rooms`: every room this server knows, paged, searched and ordered.

use axum::{Json, extract::State, http::Uri};
use myelin_core::rooms::RoomOverview;
use serde_json::{Value as JsonValue, json};
use synapse_admin_api::rooms::list_rooms::v1;

use super::require_admin;
use crate::{ApiError, AppState, Ruma, extract::query_parameter};

/// A room as Synapse's room list shows it.
pub(crate) fn room_json(room: &RoomOverview) -> JsonValue {
    json!({
        "room_id": room.room_id,
        "name": room.name,
        "canonical_alias": room.canonical_alias,
        "joined_members": room.joined_members,
        "joined_local_members": room.joined_local_members,
        "version": room.version,
        "creator": room.creator,
        "encryption": room.encryption,
        "federatable": room.federatable,
        "public": room.public,
        "join_rules": room.join_rules,
        "guest_access": room.guest_access,
        "history_visibility": room.history_visibility,
        "state_events": room.state_events,
        "room_type": room.room_type,
    })
}

/// # `GET /_synapse/admin/v1/rooms`
///
/// `search_term` matches the name, the canonical alias and the room id (case-insensitive);
/// `order_by` takes Synapse's keys (by size, `joined_members`, by default as Synapse does);
/// `from` and `limit` page, with `next_batch` and `prev_batch` offsets.
pub async fn list_rooms(
    State(state): State<AppState>,
    uri: Uri,
    request: Ruma<v1::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let from: usize = query_parameter(&uri, "from")
        .and_then(|from| from.parse().ok())
        .unwrap_or(0);
    let limit: usize = query_parameter(&uri, "limit")
        .and_then(|limit| limit.parse().ok())
        .unwrap_or(100);
    let search = query_parameter(&uri, "search_term").map(|term| term.to_lowercase());
    let order_by = query_parameter(&uri, "order_by").unwrap_or_else(|| "joined_members".into());
    let backwards = query_parameter(&uri, "dir").as_deref() == Some("b");
    let rooms = &state.services.rooms;
    let mut listed: Vec<JsonValue> = Vec::new();
    for room_id in rooms.room_ids()? {
        let Ok(room) = rooms.room_overview(&room_id) else {
            continue;
        };
        if let Some(term) = &search {
            let matches = [
                room.name.as_deref(),
                room.canonical_alias.as_deref(),
                Some(room.room_id.as_str()),
            ]
            .into_iter()
            .flatten()
            .any(|text| text.to_lowercase().contains(term.as_str()));
            if !matches {
                continue;
            }
        }
        listed.push(room_json(&room));
    }
    // Counts largest first, text A to Z, as Synapse orders them; `dir=b` reverses.
    let numeric = matches!(
        order_by.as_str(),
        "joined_members" | "joined_local_members" | "state_events"
    );
    listed.sort_by(|left, right| {
        let (a, b) = (&left[order_by.as_str()], &right[order_by.as_str()]);
        let ordering = if numeric {
            b.as_u64().cmp(&a.as_u64())
        } else {
            a.to_string().cmp(&b.to_string())
        };
        ordering.then_with(|| {
            left["room_id"]
                .to_string()
                .cmp(&right["room_id"].to_string())
        })
    });
    if backwards {
        listed.reverse();
    }
    let total = listed.len();
    let page: Vec<JsonValue> = listed.into_iter().skip(from).take(limit).collect();
    let mut answer = json!({ "rooms": page, "offset": from, "total_rooms": total });
    if from + limit < total {
        answer["next_batch"] = (from + limit).into();
    }
    if from > 0 {
        answer["prev_batch"] = from.saturating_sub(limit).into();
    }
    Ok(Json(answer))
}
