//! `GET /_matrix/client/v3/sync`

use std::time::Duration;

use axum::{Json, extract::State};
use myelin_core::{
    Error,
    rooms::{JoinedRoom, LeftRoom, SyncData, SyncRequest},
    users::Identity,
};
use ruma::api::client::{
    filter::FilterDefinition,
    sync::sync_events::v3::{self, Filter},
};
use serde_json::{Map, Value as JsonValue, json};

use crate::{
    ApiError, AppState, Ruma,
    room::{client_event, format_token, parse_token},
};

const DEFAULT_TIMELINE_LIMIT: usize = 10;
/// Long-polls longer than this are cut short; clients simply poll again.
const MAX_TIMEOUT: Duration = Duration::from_secs(300);

fn filter_of(
    state: &AppState,
    identity: &Identity,
    filter: Option<&Filter>,
) -> Result<FilterDefinition, ApiError> {
    Ok(match filter {
        None => FilterDefinition::default(),
        Some(Filter::FilterDefinition(definition)) => definition.clone(),
        Some(Filter::FilterId(id)) => {
            let stored = state
                .services
                .users
                .filter(&identity.user_id, id)
                .map_err(|_| Error::InvalidParam(format!("Unknown filter {id}")))?;
            serde_json::from_value(stored).map_err(|error| {
                Error::InvalidParam(format!("Stored filter {id} is unusable: {error}"))
            })?
        }
        Some(_) => return Err(Error::InvalidParam("Unsupported filter".into()).into()),
    })
}

/// # `GET /_matrix/client/v3/sync`
///
/// Returns at once when something changed after `since`; otherwise waits up to `timeout` for
/// the notifier (no polling of rooms while waiting).
pub async fn sync_events(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let body = &request.body;
    let filter = filter_of(&state, identity, body.filter.as_ref())?;
    let since = body.since.as_deref().map(parse_token).transpose()?;
    let timeline_limit = filter
        .room
        .timeline
        .limit
        .map_or(DEFAULT_TIMELINE_LIMIT, |limit| {
            usize::try_from(u64::from(limit)).unwrap_or(usize::MAX)
        })
        .max(1);
    let sync_request = SyncRequest {
        user_id: &identity.user_id,
        since,
        timeline_limit,
        full_state: body.full_state,
        include_leave: filter.room.include_leave,
    };

    let deadline = tokio::time::Instant::now() + body.timeout.unwrap_or_default().min(MAX_TIMEOUT);
    let mut changes = state.services.notifier.subscribe();
    let data = loop {
        changes.borrow_and_update();
        let data = state.services.rooms.sync(&sync_request)?;
        if !data.is_empty()
            || since.is_none()
            || body.full_state
            || tokio::time::Instant::now() >= deadline
        {
            break data;
        }
        if tokio::time::timeout_at(deadline, changes.changed())
            .await
            .is_err()
        {
            break state.services.rooms.sync(&sync_request)?;
        }
    };
    Ok(Json(render(&state, identity, since.is_none(), &data)?))
}

fn render(
    state: &AppState,
    identity: &Identity,
    initial: bool,
    data: &SyncData,
) -> Result<JsonValue, ApiError> {
    let users = &state.services.users;
    let mut join = Map::new();
    for room in &data.joined {
        let mut rendered = render_joined(state, identity, room);
        let room_account_data: Vec<JsonValue> = users
            .all_account_data(&identity.user_id, Some(&room.room_id))?
            .into_iter()
            .filter(|(kind, _)| {
                initial
                    || data
                        .account_data_changes
                        .contains(&(Some(room.room_id.clone()), kind.clone()))
            })
            .map(|(kind, content)| json!({ "type": kind, "content": content }))
            .collect();
        rendered["account_data"] = json!({ "events": room_account_data });
        join.insert(room.room_id.to_string(), rendered);
    }
    // Room account data that changed in rooms without new events still has to reach the client.
    for (room_id, kind) in &data.account_data_changes {
        let Some(room_id) = room_id else { continue };
        if join.contains_key(room_id.as_str())
            || !state.services.rooms.is_joined(room_id, &identity.user_id)?
        {
            continue;
        }
        if let Some(content) = users.account_data(&identity.user_id, Some(room_id), kind)? {
            let entry = join.entry(room_id.to_string()).or_insert_with(|| json!({ "timeline": { "events": [], "limited": false }, "state": { "events": [] }, "ephemeral": { "events": [] }, "account_data": { "events": [] } }));
            if let Some(events) = entry["account_data"]["events"].as_array_mut() {
                events.push(json!({ "type": kind, "content": content }));
            }
        }
    }
    let invite: Map<String, JsonValue> = data
        .invited
        .iter()
        .map(|room| {
            (
                room.room_id.to_string(),
                json!({ "invite_state": { "events": room.invite_state } }),
            )
        })
        .collect();
    let leave: Map<String, JsonValue> = data
        .left
        .iter()
        .map(|room| (room.room_id.to_string(), render_left(state, identity, room)))
        .collect();
    let global: Vec<JsonValue> = users
        .all_account_data(&identity.user_id, None)?
        .into_iter()
        .filter(|(kind, _)| initial || data.account_data_changes.contains(&(None, kind.clone())))
        .map(|(kind, content)| json!({ "type": kind, "content": content }))
        .collect();
    Ok(json!({
        "next_batch": format_token(data.next_position),
        "rooms": { "join": join, "invite": invite, "leave": leave, "knock": {} },
        "account_data": { "events": global },
        "presence": { "events": [] },
        "to_device": { "events": [] },
    }))
}

fn render_joined(state: &AppState, identity: &Identity, room: &JoinedRoom) -> JsonValue {
    let timeline: Vec<JsonValue> = room
        .timeline
        .iter()
        .map(|(_, event)| client_event(state, event, identity, false))
        .collect();
    let room_state: Vec<JsonValue> = room
        .state
        .iter()
        .map(|event| client_event(state, event, identity, false))
        .collect();
    json!({
        "timeline": { "events": timeline, "limited": room.limited, "prev_batch": format_token(room.prev_batch) },
        "state": { "events": room_state },
        "ephemeral": { "events": [] },
        "summary": {
            "m.heroes": room.heroes,
            "m.joined_member_count": room.joined_member_count,
            "m.invited_member_count": room.invited_member_count,
        },
    })
}

fn render_left(state: &AppState, identity: &Identity, room: &LeftRoom) -> JsonValue {
    let timeline: Vec<JsonValue> = room
        .timeline
        .iter()
        .map(|(_, event)| client_event(state, event, identity, false))
        .collect();
    let room_state: Vec<JsonValue> = room
        .state
        .iter()
        .map(|event| client_event(state, event, identity, false))
        .collect();
    json!({
        "timeline": { "events": timeline, "limited": room.limited, "prev_batch": format_token(room.prev_batch) },
        "state": { "events": room_state },
        "account_data": { "events": [] },
    })
}
