//! `GET /_matrix/client/v3/sync`

use std::{collections::BTreeSet, time::Duration};

use axum::{Json, extract::State};
use myelin_core::{
    Error,
    ephemeral::{PresenceState, Receipt},
    rooms::{JoinedRoom, LeftRoom, PduEvent, SyncData, SyncRequest},
    users::Identity,
};
use ruma::{
    OwnedRoomId, OwnedUserId, UserId,
    api::client::{
        filter::FilterDefinition,
        sync::sync_events::v3::{self, Filter},
    },
};
use serde_json::{Map, Value as JsonValue, json};

use crate::{
    ApiError, AppState, Ruma, filtering,
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

/// `s{events}_{ephemeral}`: the event stream position and the serial of typing and presence.
#[derive(Debug, Clone, Copy)]
struct SyncToken {
    events: u64,
    ephemeral: u64,
}

impl SyncToken {
    fn parse(token: &str) -> Result<Self, ApiError> {
        let (events, typing) = token.split_once('_').unwrap_or((token, "0"));
        let typing = typing
            .parse()
            .map_err(|_| Error::InvalidParam(format!("Invalid sync token {token}")))?;
        Ok(Self {
            events: parse_token(events)?,
            ephemeral: typing,
        })
    }
}

impl std::fmt::Display for SyncToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}_{}", format_token(self.events), self.ephemeral)
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
    let ignored = filtering::ignored_users(&state, &identity.user_id);
    let keep_in_timeline = |event: &PduEvent| {
        !filtering::hidden_by_ignore(&ignored, event)
            && filtering::passes_event(&filter.room.timeline, event)
    };
    let sync_request = SyncRequest {
        user_id: &identity.user_id,
        since,
        timeline_limit,
        full_state: body.full_state,
        include_leave: filter.room.include_leave,
        keep_in_timeline: &keep_in_timeline,
    };

    let deadline = tokio::time::Instant::now() + body.timeout.unwrap_or_default().min(MAX_TIMEOUT);
    let mut changes = state.services.notifier.subscribe();
    let set_presence =
        PresenceState::parse(body.set_presence.as_str()).unwrap_or(PresenceState::Online);
    state
        .services
        .presence
        .on_sync(&identity.user_id, set_presence);
    let ephemeral_since = since_token.map(|token| token.ephemeral);
    let (data, ephemeral_serial, typing_rooms, presence_events) = loop {
        changes.borrow_and_update();
        // Read the serial first: a change racing with this sync shows up in the next one.
        let ephemeral_serial = state.services.typing.serial();
        let data = state.services.rooms.sync(&sync_request)?;
        let typing_rooms = typing_changes(&state, identity, ephemeral_since)?;
        let presence_events = presence_changes(&state, identity, &filter, ephemeral_since)?;
        let nothing_new = data.is_empty() && typing_rooms.is_empty() && presence_events.is_empty();
        if !nothing_new
            || since.is_none()
            || body.full_state
            || tokio::time::Instant::now() >= deadline
        {
            break (data, ephemeral_serial, typing_rooms, presence_events);
        }
        // Waiting ends with a change or the deadline; either way the loop looks once more.
        let _ = tokio::time::timeout_at(deadline, changes.changed()).await;
    };
    let view = View {
        identity,
        filter: &filter,
        ignored: ignored.clone(),
        initial: since.is_none(),
    };
    let mut response = render(&state, &view, &data, &typing_rooms)?;
    response["presence"] = json!({ "events": presence_events });
    response["next_batch"] = SyncToken {
        events: data.next_position,
        ephemeral: ephemeral_serial,
    }
    .to_string()
    .into();
    Ok(Json(response))
}

/// `m.presence` events of users sharing a room with the user whose presence changed after
/// `since` (everyone known, when initial).
fn presence_changes(
    state: &AppState,
    identity: &Identity,
    filter: &FilterDefinition,
    since: Option<u64>,
) -> Result<Vec<JsonValue>, ApiError> {
    let presence = &state.services.presence;
    if !presence.enabled() {
        return Ok(Vec::new());
    }
    let changed = presence.changed_since(since);
    if changed.is_empty()
        || filter
            .presence
            .not_types
            .iter()
            .any(|kind| kind == "m.presence")
    {
        return Ok(Vec::new());
    }
    // The viewer's rooms once; then a point lookup per changed user and room.
    let rooms = &state.services.rooms;
    let viewer_rooms: std::collections::HashSet<OwnedRoomId> =
        rooms.joined_rooms(&identity.user_id)?.into_iter().collect();
    let mut events = Vec::new();
    for user_id in changed {
        let wanted = !filter.presence.not_senders.contains(&user_id)
            && filter
                .presence
                .senders
                .as_ref()
                .is_none_or(|senders| senders.contains(&user_id));
        if !wanted {
            continue;
        }
        // The other user's rooms (usually few) against the viewer's set: the cost follows the
        // changed users, not the viewer's room count times the changed users.
        let visible = user_id == identity.user_id
            || rooms
                .joined_rooms(&user_id)?
                .iter()
                .any(|room| viewer_rooms.contains(room));
        if visible {
            events.push(json!({ "type": "m.presence", "sender": user_id, "content": crate::presence::content(&presence.status(&user_id)) }));
        }
    }
    Ok(events)
}

/// Joined rooms whose typing set changed after `since` (every room with typists when initial).
fn typing_changes(
    state: &AppState,
    identity: &Identity,
    since: Option<u64>,
) -> Result<TypingRooms, ApiError> {
    // Start from the rooms where typing changed (few), not from the user's rooms (many).
    let typing = &state.services.typing;
    let rooms = match since {
        Some(since) => typing.rooms_changed_since(since),
        None => typing.rooms_with_typists(),
    };
    let mut changed = Vec::new();
    for room_id in rooms {
        if state
            .services
            .rooms
            .is_joined(&room_id, &identity.user_id)?
        {
            let users = typing.typing_users(&room_id);
            changed.push((room_id, users));
        }
    }
    Ok(changed)
}

/// What rendering needs besides the data: the filter and the ignored users.
struct View<'a> {
    identity: &'a Identity,
    filter: &'a FilterDefinition,
    ignored: BTreeSet<OwnedUserId>,
    initial: bool,
}

impl View<'_> {
    fn room_wanted(&self, room_id: &ruma::RoomId) -> bool {
        filtering::room_passes(
            self.filter.room.rooms.as_ref(),
            &self.filter.room.not_rooms,
            room_id,
        )
    }

    fn timeline(&self, state: &AppState, events: &[(u64, PduEvent)]) -> Vec<JsonValue> {
        events
            .iter()
            .map(|(_, event)| event)
            .filter(|event| {
                !filtering::hidden_by_ignore(&self.ignored, event)
                    && filtering::passes_event(&self.filter.room.timeline, event)
            })
            .map(|event| client_event(state, event, self.identity, false))
            .collect()
    }

    fn state(
        &self,
        state: &AppState,
        room_state: &[PduEvent],
        timeline: &[(u64, PduEvent)],
    ) -> Vec<JsonValue> {
        let mut events: Vec<PduEvent> = room_state
            .iter()
            .filter(|event| filtering::passes_event(&self.filter.room.state, event))
            .cloned()
            .collect();
        if filtering::lazy_loading(&self.filter.room.state) {
            let senders: Vec<&PduEvent> = timeline.iter().map(|(_, event)| event).collect();
            events = filtering::lazy_load_state(events, &senders, &self.identity.user_id);
        }
        events
            .iter()
            .map(|event| client_event(state, event, self.identity, false))
            .collect()
    }

    fn account_data(&self, events: Vec<(String, JsonValue)>, room: bool) -> Vec<JsonValue> {
        let global = &self.filter.account_data;
        let wanted = |kind: &str| {
            if room {
                filtering::passes(
                    &self.filter.room.account_data,
                    kind,
                    &self.identity.user_id,
                    None,
                )
            } else {
                !global
                    .not_types
                    .iter()
                    .any(|pattern| filtering::type_matches(pattern, kind))
                    && global.types.as_ref().is_none_or(|types| {
                        types
                            .iter()
                            .any(|pattern| filtering::type_matches(pattern, kind))
                    })
            }
        };
        events
            .into_iter()
            .filter(|(kind, _)| wanted(kind))
            .map(|(kind, content)| json!({ "type": kind, "content": content }))
            .collect()
    }

    fn ephemeral_wanted(&self, kind: &str) -> bool {
        filtering::passes(
            &self.filter.room.ephemeral,
            kind,
            &self.identity.user_id,
            None,
        )
    }
}

fn render(
    state: &AppState,
    view: &View<'_>,
    data: &SyncData,
    typing_rooms: &TypingRooms,
) -> Result<JsonValue, ApiError> {
    let users = &state.services.users;
    let identity = view.identity;
    let mut join = Map::new();
    for room in data
        .joined
        .iter()
        .filter(|room| view.room_wanted(&room.room_id))
    {
        let mut rendered = render_joined(state, view, room);
        let room_account_data = users
            .all_account_data(&identity.user_id, Some(&room.room_id))?
            .into_iter()
            .filter(|(kind, _)| {
                view.initial
                    || data
                        .account_data_changes
                        .contains(&(Some(room.room_id.clone()), kind.clone()))
            })
            .collect();
        rendered["account_data"] = json!({ "events": view.account_data(room_account_data, true) });
        let counts = state
            .services
            .rooms
            .unread_counts(&room.room_id, &identity.user_id)?;
        if view.filter.room.timeline.unread_thread_notifications {
            let main = counts.threads.get("main").copied().unwrap_or_default();
            rendered["unread_notifications"] =
                json!({ "notification_count": main.0, "highlight_count": main.1 });
            let threads: Map<String, JsonValue> = counts
                .threads
                .iter()
                .filter(|(root, _)| root.as_str() != "main")
                .map(|(root, (notifications, highlights))| (root.clone(), json!({ "notification_count": notifications, "highlight_count": highlights })))
                .collect();
            rendered["unread_thread_notifications"] = JsonValue::Object(threads);
        } else {
            rendered["unread_notifications"] = json!({ "notification_count": counts.notifications, "highlight_count": counts.highlights });
        }
        if let Some(receipts) = data.receipts.get(&room.room_id)
            && view.ephemeral_wanted("m.receipt")
        {
            rendered["ephemeral"]["events"] = json!([receipt_event(receipts)]);
        }
        join.insert(room.room_id.to_string(), rendered);
    }
    for (room_id, typists) in typing_rooms {
        if !view.room_wanted(room_id) || !view.ephemeral_wanted("m.typing") {
            continue;
        }
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
            || !view.room_wanted(room_id)
            || !state.services.rooms.is_joined(room_id, &identity.user_id)?
        {
            continue;
        }
        if let Some(content) = users.account_data(&identity.user_id, Some(room_id), kind)? {
            let events = view.account_data(vec![(kind.clone(), content)], true);
            let entry = join
                .entry(room_id.to_string())
                .or_insert_with(empty_joined_room);
            if let Some(list) = entry["account_data"]["events"].as_array_mut() {
                list.extend(events);
            }
        }
    }
    let invite: Map<String, JsonValue> = data
        .invited
        .iter()
        .filter(|room| view.room_wanted(&room.room_id) && !invited_by_ignored(view, room))
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
        .filter(|room| view.room_wanted(&room.room_id))
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
        .filter(|room| view.room_wanted(&room.room_id))
        .map(|room| (room.room_id.to_string(), render_left(state, view, room)))
        .collect();
    let global = users
        .all_account_data(&identity.user_id, None)?
        .into_iter()
        .filter(|(kind, _)| {
            view.initial || data.account_data_changes.contains(&(None, kind.clone()))
        })
        .collect();
    Ok(json!({
        "rooms": { "join": join, "invite": invite, "leave": leave, "knock": knock },
        "account_data": { "events": view.account_data(global, false) },
        "presence": { "events": [] },
        "to_device": { "events": [] },
    }))
}

/// Invites from ignored users are dropped, as the spec asks.
fn invited_by_ignored(view: &View<'_>, room: &myelin_core::rooms::InvitedRoom) -> bool {
    room.invite_state.iter().any(|event| {
        event["type"] == "m.room.member"
            && event["state_key"] == view.identity.user_id.as_str()
            && event["sender"]
                .as_str()
                .and_then(|sender| UserId::parse(sender).ok())
                .is_some_and(|sender| view.ignored.contains(&sender))
    })
}

fn empty_joined_room() -> JsonValue {
    json!({ "timeline": { "events": [], "limited": false }, "state": { "events": [] }, "ephemeral": { "events": [] }, "account_data": { "events": [] } })
}

fn render_joined(state: &AppState, view: &View<'_>, room: &JoinedRoom) -> JsonValue {
    let summary = match &room.summary {
        Some((joined, invited, heroes)) => {
            json!({ "m.heroes": heroes, "m.joined_member_count": joined, "m.invited_member_count": invited })
        }
        None => json!({}),
    };
    json!({
        "timeline": { "events": view.timeline(state, &room.timeline), "limited": room.limited, "prev_batch": format_token(room.prev_batch) },
        "state": { "events": view.state(state, &room.state, &room.timeline) },
        "ephemeral": { "events": [] },
        "summary": summary,
    })
}

fn render_left(state: &AppState, view: &View<'_>, room: &LeftRoom) -> JsonValue {
    json!({
        "timeline": { "events": view.timeline(state, &room.timeline), "limited": room.limited, "prev_batch": format_token(room.prev_batch) },
        "state": { "events": view.state(state, &room.state, &room.timeline) },
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
