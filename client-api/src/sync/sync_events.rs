//! `GET /_matrix/client/v3/sync`

use std::{collections::BTreeSet, time::Duration};

use axum::{
    Json,
    extract::{RawQuery, State},
};
use myelin_core::{
    Error,
    rooms::{PduEvent, SyncRequest},
    users::Identity,
};
use ruma::{
    OwnedUserId, UserId,
    api::client::{
        filter::FilterDefinition,
        sync::sync_events::v3::{self, Filter},
    },
};
use serde_json::{Value as JsonValue, json};

use super::render::{TypingRooms, View, render};
use crate::{
    ApiError, AppState, Ruma, filtering,
    room::{format_token, parse_token},
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
    RawQuery(query): RawQuery,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    // `use_state_after` (spec v1.16), or its unstable name, which matrix-js-sdk (Element Web)
    // sends on every sync: the answer then names the field the way it was asked for.
    let unstable_state_after = query.as_deref().is_some_and(|query| {
        query.split('&').any(|pair| {
            pair == "org.matrix.msc4222.use_state_after=true"
                || pair == "org.matrix.msc4222.use_state_after=1"
        })
    });
    let state_after_key = if request.body.use_state_after {
        Some("state_after")
    } else if unstable_state_after {
        Some("org.matrix.msc4222.state_after")
    } else {
        None
    };
    let identity = request.identity()?;
    let body = &request.body;
    let filter = filter_of(&state, identity, body.filter.as_ref())?;
    filtering::check_definition(&filter)?;
    let timeline_filter = filtering::EventFilter::new(&filter.room.timeline)?;
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
        !filtering::hidden_by_ignore(&ignored, event) && timeline_filter.passes_event(event)
    };
    let sync_request = SyncRequest {
        user_id: &identity.user_id,
        since,
        timeline_limit,
        full_state: body.full_state,
        include_leave: filter.room.include_leave,
        keep_in_timeline: &keep_in_timeline,
        timeline_may_drop_state: timeline_filter.may_drop_events(),
        use_state_after: state_after_key.is_some(),
        lazy_members: filtering::lazy_loading(&filter.room.state),
    };

    let deadline = tokio::time::Instant::now() + body.timeout.unwrap_or_default().min(MAX_TIMEOUT);
    let mut changes = state.services.notifier.subscribe();
    super::mark_syncing(&state, identity, body.set_presence.as_str()).await?;
    let ephemeral_since = since_token.map(|token| token.ephemeral);
    let users = &state.services.users;
    // Syncing on from `since` acknowledges the to-device messages delivered up to it.
    if let Some(since) = since {
        users
            .acknowledge_to_device(&identity.user_id, &identity.device_id, since)
            .await?;
    }
    // What this long-poll has already looked through and found nothing in.
    let mut checked = since.map(|events| super::Checked {
        events,
        ephemeral: ephemeral_since.unwrap_or(0),
    });
    let (data, ephemeral_serial, typing_rooms, presence_events, to_device) = loop {
        changes.borrow_and_update();
        // Every change on the server wakes every long-poll: most are someone else's, and a
        // look at what is new since the last look tells so without building a response.
        if let Some(checked) = checked.as_mut()
            && !body.full_state
            && tokio::time::Instant::now() < deadline
            && super::quiet(&state, identity, checked, Some(&filter), true)?
        {
            let _ = tokio::time::timeout_at(deadline, changes.changed()).await;
            continue;
        }
        // Read the serial first: a change racing with this sync shows up in the next one.
        let ephemeral_serial = state.services.typing.serial();
        let data = state.services.rooms.sync(&sync_request)?;
        let typing_rooms = typing_changes(&state, identity, ephemeral_since)?;
        let joiners = presence_of_joiners(&state, identity, &data)?;
        let presence_events =
            presence_changes(&state, identity, &filter, ephemeral_since, &joiners)?;
        let to_device =
            users.to_device_messages(&identity.user_id, &identity.device_id, data.next_position)?;
        let nothing_new = data.is_empty()
            && typing_rooms.is_empty()
            && presence_events.is_empty()
            && to_device.is_empty();
        if !nothing_new
            || since.is_none()
            || body.full_state
            || tokio::time::Instant::now() >= deadline
        {
            break (
                data,
                ephemeral_serial,
                typing_rooms,
                presence_events,
                to_device,
            );
        }
        // Nothing up to here: the next wake-up only needs to look at what comes after.
        checked = Some(super::Checked {
            events: data.next_position,
            ephemeral: ephemeral_serial,
        });
        // Waiting ends with a change or the deadline; either way the loop looks once more.
        let _ = tokio::time::timeout_at(deadline, changes.changed()).await;
    };
    let mut view = View::new(identity, &filter, ignored.clone(), since.is_none())?;
    view.state_after_key = state_after_key;
    view.full_state = body.full_state;
    if since.is_none() {
        // An initial sync starts the client from nothing.
        state
            .lazy_sent
            .forget_device(&identity.user_id, &identity.device_id);
    }
    let mut response = render(&state, &view, &data, &typing_rooms)?;
    response["presence"] = json!({ "events": presence_events });
    response["to_device"] = json!({ "events": to_device });
    response["device_lists"] = json!({
        "changed": data.device_lists.changed,
        "left": data.device_lists.left,
    });
    response["next_batch"] = SyncToken {
        events: data.next_position,
        ephemeral: ephemeral_serial,
    }
    .to_string()
    .into();
    Ok(Json(response))
}

/// Users whose presence an incremental sync sends whether or not it changed, as Synapse does:
/// the members of rooms joined since the last sync, and those who joined the user's rooms
/// since [Complement TestSync "Newly joined room includes presence", "Get presence for newly
/// joined members"].
fn presence_of_joiners(
    state: &AppState,
    identity: &Identity,
    data: &myelin_core::rooms::SyncData,
) -> Result<BTreeSet<OwnedUserId>, ApiError> {
    let mut joiners = BTreeSet::new();
    if !state.services.presence.enabled() {
        return Ok(joiners);
    }
    for room in &data.joined {
        if room.newly_joined {
            for member in state.services.rooms.joined_members(&room.room_id)? {
                if let Some(user) = member
                    .state_key
                    .as_deref()
                    .and_then(|key| UserId::parse(key).ok())
                {
                    joiners.insert(user);
                }
            }
        } else {
            for (_, event) in &room.timeline {
                if event.kind == ruma::events::TimelineEventType::RoomMember
                    && event
                        .content_json()
                        .get("membership")
                        .and_then(JsonValue::as_str)
                        == Some("join")
                    && let Some(user) = event
                        .state_key
                        .as_deref()
                        .and_then(|key| UserId::parse(key).ok())
                {
                    joiners.insert(user);
                }
            }
        }
    }
    joiners.remove(&identity.user_id);
    Ok(joiners)
}

/// `m.presence` events of users sharing a room with the user whose presence changed after
/// `since` (everyone known, when initial), and of `joiners` (who share one by definition).
pub(super) fn presence_changes(
    state: &AppState,
    identity: &Identity,
    filter: &FilterDefinition,
    since: Option<u64>,
    joiners: &BTreeSet<OwnedUserId>,
) -> Result<Vec<JsonValue>, ApiError> {
    let presence = &state.services.presence;
    if !presence.enabled() {
        return Ok(Vec::new());
    }
    let mut changed = presence.changed_since(since);
    if since.is_some() {
        // Offline without a status is what clients assume of anyone: not worth an event per
        // member of a large room.
        let known: BTreeSet<OwnedUserId> = changed.iter().cloned().collect();
        changed.extend(
            joiners
                .iter()
                .filter(|user| !known.contains(*user))
                .filter(|user| {
                    let status = presence.status(user);
                    status.state != myelin_core::ephemeral::PresenceState::Offline
                        || status.status_msg.is_some()
                })
                .cloned(),
        );
    }
    if changed.is_empty()
        || filter
            .presence
            .not_types
            .iter()
            .any(|kind| kind == "m.presence")
    {
        return Ok(Vec::new());
    }
    // The viewer's rooms once, then each changed user's rooms against them.
    let viewer_rooms = crate::presence::viewer_rooms(state, &identity.user_id)?;
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
        if crate::presence::may_see(state, &identity.user_id, &viewer_rooms, &user_id)? {
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
