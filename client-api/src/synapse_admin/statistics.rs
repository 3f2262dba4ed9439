//! `GET /_synapse/admin/v1/statistics/users/media`: how much each local user uploaded;
//! `…/statistics/database/rooms`: the rooms taking the most space.

use std::collections::BTreeMap;

use axum::{Json, extract::State, http::Uri};
use serde_json::{Value as JsonValue, json};

use super::{endpoints, require_admin};
use crate::{ApiError, AppState, Ruma, extract::query_parameter};

/// # `GET /_synapse/admin/v1/statistics/users/media`
///
/// Users with uploads, by `media_length` (largest first) unless `order_by` says `media_count`
/// or `user_id`; `search_term` matches user ids; `from`/`limit` page.
pub async fn users_media(
    State(state): State<AppState>,
    uri: Uri,
    request: Ruma<endpoints::media_statistics::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let media = &state.services.media;
    let mut per_user: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for entry in media.entries()? {
        if entry.record.remote || entry.server != *media.server_name() {
            continue;
        }
        if let Some(uploader) = &entry.record.uploader {
            let totals = per_user.entry(uploader.to_string()).or_default();
            totals.0 += 1;
            totals.1 += entry.record.size;
        }
    }
    let search = query_parameter(&uri, "search_term");
    let mut users: Vec<JsonValue> = per_user
        .into_iter()
        .filter(|(user, _)| search.as_deref().is_none_or(|term| user.contains(term)))
        .map(|(user, (count, length))| {
            let displayname = ruma::UserId::parse(user.as_str())
                .ok()
                .and_then(|user_id| state.services.users.profile(&user_id).ok())
                .and_then(|profile| profile.get("displayname").cloned());
            json!({
                "user_id": user,
                "displayname": displayname,
                "media_count": count,
                "media_length": length,
            })
        })
        .collect();
    let order_by = query_parameter(&uri, "order_by").unwrap_or_else(|| "media_length".into());
    users.sort_by(|left, right| match order_by.as_str() {
        "user_id" | "displayname" => left[order_by.as_str()]
            .to_string()
            .cmp(&right[order_by.as_str()].to_string()),
        key => right[key].as_u64().cmp(&left[key].as_u64()),
    });
    if query_parameter(&uri, "dir").as_deref() == Some("b") {
        users.reverse();
    }
    let from: usize = query_parameter(&uri, "from")
        .and_then(|from| from.parse().ok())
        .unwrap_or(0);
    let limit: usize = query_parameter(&uri, "limit")
        .and_then(|limit| limit.parse().ok())
        .unwrap_or(100);
    let total = users.len();
    let page: Vec<JsonValue> = users.into_iter().skip(from).take(limit).collect();
    let mut answer = json!({ "users": page, "total": total });
    if from + limit < total {
        answer["next_token"] = (from + limit).into();
    }
    Ok(Json(answer))
}

/// # `GET /_synapse/admin/v1/statistics/database/rooms`
///
/// The ten rooms taking the most space, as Synapse lists them: `estimated_size` is the bytes
/// of the room's stored events (Synapse estimates from its database tables; indexes are left
/// out of both).
pub async fn database_rooms(
    State(state): State<AppState>,
    request: Ruma<endpoints::database_room_statistics::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let rooms: Vec<JsonValue> = state
        .services
        .rooms
        .room_sizes()?
        .into_iter()
        .take(10)
        .map(|(room_id, size)| json!({ "room_id": room_id, "estimated_size": size }))
        .collect();
    Ok(Json(json!({ "rooms": rooms })))
}
