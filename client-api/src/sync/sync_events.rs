//! `GET /_matrix/client/v3/sync`

use std::time::Duration;

use axum::{Json, extract::State};
use myelin_core::{
    Error,
    ephemeral::Receipt,
    rooms::{JoinedRoom, LeftRoom, SyncData, SyncRequest},
    users::Identity,
};
use ruma::{
    OwnedRoomId, OwnedUserId,
    api::client::{
        filter::FilterDefinition,
        sync::sync_events::v3::{self, Filter},
    },
};
use serde_json::{Map, Value as JsonValue, json};

use crate::{
    ApiError, AppState, Ruma,
    room::{client_event, format_token, parse_token},
};

const DEFAULT_TIMELINE_LIMIT: usize = 10;
/// Long-polls longer than this are cut short; clients simply poll again.
const MAX_TIMEOUT: Duration = Duration::from_secs(300);

type TypingRooms = Vec<(OwnedRoomId, Vec<OwnedUserId>)>;

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

/// `s{events}_{typing}`: the event stream position and the typing serial.
#[derive(Debug, Clone, Copy)]
struct SyncToken {
    events: u64,
    typing: u64,
}

impl SyncToken {
    fn parse(token: &str) -> Result<Self, ApiError> {
        let (events, typing) = token.split_once('_').unwrap_or((token, "0"));
        let typing = typing
            .parse()
            .map_err(|_| Error::InvalidParam(format!("Invalid sync token {token}")))?;
        Ok(Self {
            events: parse_token(events)?,
            typing,
        })
    }
}

impl std::fmt::Display for SyncToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}_{}", format_token(self.events), self.typing)
    }
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
    let since_token = body.since.as_deref().map(SyncToken::parse).transpose()?;
    let since = since_token.map(|token| token.events);
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
    let (data, typing_serial, typing_rooms) = loop {
        changes.borrow_and_update();
        // Read the serial first: a change racing with this sync shows up in the next one.
        let typing_serial = state.services.typing.serial();
        let data = state.services.rooms.sync(&sync_request)?;
        let typing_rooms = typing_changes(&state, identity, since_token.map(|token| token.typing))?;
        let nothing_new = data.is_empty() && typing_rooms.is_empty();
        if !nothing_new
            || since.is_none()
            || body.full_state
            || tokio::time::Instant::now() >= deadline
        {
            break (data, typing_serial, typing_rooms);
        }
        // Waiting ends with a change or the deadline; either way the loop looks once more.
        let _ = tokio::time::timeout_at(deadline, changes.changed()).await;
    };
    let mut response = render(&state, identity, since.is_none(), &data, &typing_rooms)?;
    response["next_batch"] = SyncToken {
        events: data.next_position,
        typing: typing_serial,
    }
    .to_string()
    .into();
    Ok(Json(response))
}

/// Joined rooms whose typing set changed after `since` (every room with typists when initial).
fn typing_changes(
    state: &AppState,
    identity: &Identity,
    since: Option<u64>,
) -> Result<TypingRooms, ApiError> {
    let typing = &state.services.typing;
    let mut changed = Vec::new();
    for room_id in state.services.rooms.joined_rooms(&identity.user_id)? {
        let include = match since {
            Some(since) => typing.changed_since(&room_id, since),
            None => !typing.typing_users(&room_id).is_empty(),
        };
        if include {
            let users = typing.typing_users(&room_id);
            changed.push((room_id, users));
        }
    }
    Ok(changed)
}

fn render(
    state: &AppState,
    identity: &Identity,
    initial: bool,
    data: &SyncData,
    typing_rooms: &TypingRooms,
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
        if let Some(receipts) = data.receipts.get(&room.room_id) {
            rendered["ephemeral"]["events"] = json!([receipt_event(receipts)]);
        }
        join.insert(room.room_id.to_string(), rendered);
    }
    for (room_id, typists) in typing_rooms {
        let entry = join
            .entry(room_id.to_string())
            .or_insert_with(empty_joined_room);
        if let Some(events) = entry["ephemeral"]["events"].as_array_mut() {
            events.push(json!({ "type": "m.typing", "content": { "user_ids": typists } }));
        }
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
            let entry = join
                .entry(room_id.to_string())
                .or_insert_with(empty_joined_room);
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
    let knock: Map<String, JsonValue> = data
        .knocked
        .iter()
        .map(|room| {
            (
                room.room_id.to_string(),
                json!({ "knock_state": { "events": room.invite_state } }),
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
        "rooms": { "join": join, "invite": invite, "leave": leave, "knock": knock },
        "account_data": { "events": global },
        "presence": { "events": [] },
        "to_device": { "events": [] },
    }))
}

fn empty_joined_room() -> JsonValue {
    json!({ "timeline": { "events": [], "limited": false }, "state": { "events": [] }, "ephemeral": { "events": [] }, "account_data": { "events": [] } })
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

/// One `m.receipt` event: `{event_id: {receipt_type: {user_id: {ts, thread_id?}}}}`.
fn receipt_event(receipts: &[Receipt]) -> JsonValue {
    let mut content = Map::new();
    for receipt in receipts {
        let mut entry = json!({ "ts": receipt.ts });
        if let Some(thread) = &receipt.thread_id {
            entry["thread_id"] = thread.clone().into();
        }
        let by_event = content
            .entry(receipt.event_id.to_string())
            .or_insert_with(|| json!({}));
        by_event[receipt.receipt_type.as_str()][receipt.user_id.as_str()] = entry;
    }
    json!({ "type": "m.receipt", "content": content })
}
