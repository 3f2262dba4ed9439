//! `POST /_matrix/client/unstable/org.matrix.simplified_msc3575/sync`: simplified sliding sync
//! (MSC4186), the sync Element X and other matrix-rust-sdk clients use.
//!
//! Lists pick rooms by filters and recency (`bump_stamp`) and return only their counts; the
//! rooms in their ranges and the explicitly subscribed rooms come in `rooms`, whole the first
//! time and incrementally afterwards. Request parameters are not sticky (MSC4186): every request
//! carries the full lists and extensions.

mod connection;
mod extensions;
mod room;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    time::Duration,
};

use axum::{Json, extract::State};
use myelin_core::{
    rooms::{ListedRoom, Membership, StreamChanges},
    users::Identity,
};
use ruma::{
    OwnedRoomId, OwnedUserId,
    api::client::sync::sync_events::v5::{self, request},
    directory::RoomTypeFilter,
};
use serde_json::{Map, Value as JsonValue, json};

pub(crate) use self::connection::Connections;
use self::{
    connection::{RoomConfig, Snapshot},
    extensions::Selected,
};
use crate::{ApiError, AppState, Ruma, filtering};

/// Long-polls longer than this are cut short; clients simply poll again.
const MAX_TIMEOUT: Duration = Duration::from_secs(300);
/// Timelines longer than this are not sent in one response.
const MAX_TIMELINE_LIMIT: usize = 1000;

/// What one computation of a response works from.
pub(super) struct Context<'a> {
    state: &'a AppState,
    identity: &'a Identity,
    /// The event position the continued response covered (`None` on a new session).
    since: Option<u64>,
    ephemeral_since: Option<u64>,
    now: u64,
    changes: StreamChanges,
    ignored: BTreeSet<OwnedUserId>,
    /// Rooms the user's `m.direct` account data names.
    direct_rooms: BTreeSet<OwnedRoomId>,
}

impl Context<'_> {
    fn is_dm(&self, room: &ListedRoom) -> bool {
        room.direct_invite || self.direct_rooms.contains(&room.room_id)
    }
}

/// # `POST /_matrix/client/unstable/org.matrix.simplified_msc3575/sync`
///
/// Answers at once on a new session or when something changed for the connection; otherwise
/// waits for the notifier up to `timeout`.
pub async fn sliding_sync(
    State(state): State<AppState>,
    request: Ruma<v5::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let body = &request.body;
    let key = (
        identity.user_id.clone(),
        identity.device_id.clone(),
        body.conn_id.clone().unwrap_or_default(),
    );
    let previous = state.sliding.resume(&key, body.pos.as_deref())?;
    super::mark_syncing(&state, identity, body.set_presence.as_str()).await?;
    // A to-device `since` acknowledges the messages delivered up to it.
    if body.extensions.to_device.enabled == Some(true)
        && let Some(since) = body.extensions.to_device.since.as_deref()
    {
        let since = since
            .parse()
            .map_err(|_| ApiError::bad_json(format!("Invalid to-device token {since}")))?;
        state
            .services
            .users
            .acknowledge_to_device(&identity.user_id, &identity.device_id, since)
            .await?;
    }
    let deadline = tokio::time::Instant::now() + body.timeout.unwrap_or_default().min(MAX_TIMEOUT);
    let fingerprint = fingerprint(request.json.as_ref());
    let to_device = body.extensions.to_device.enabled == Some(true);
    // Stream and typing positions this long-poll has already found nothing in.
    let mut checked = previous.as_deref().map(|previous| super::Checked {
        events: previous.events,
        ephemeral: previous.ephemeral,
    });
    let mut changes = state.services.notifier.subscribe();
    loop {
        changes.borrow_and_update();
        let at_deadline = tokio::time::Instant::now() >= deadline;
        // Every change on the server wakes every long-poll: most are someone else's, and a
        // cheap look at the stream tells so without building a response.
        // A request asking for something else (a new range, more state) is news by itself.
        let same_request = previous
            .as_deref()
            .is_some_and(|previous| previous.fingerprint == fingerprint);
        if let Some(checked) = checked.as_mut()
            && same_request
            && !at_deadline
            && super::quiet(&state, identity, checked, None, to_device)?
        {
            let _ = tokio::time::timeout_at(deadline, changes.changed()).await;
            continue;
        }
        let (mut response, mut snapshot, news) =
            respond(&state, identity, body, previous.as_deref())?;
        snapshot.fingerprint = fingerprint;
        if news || previous.is_none() || at_deadline {
            response["pos"] = state.sliding.store(key, snapshot).into();
            if let Some(txn_id) = &body.txn_id {
                response["txn_id"] = txn_id.clone().into();
            }
            return Ok(Json(response));
        }
        // Nothing up to here: the next wake-up only needs to look at what comes after.
        checked = Some(super::Checked {
            events: snapshot.events,
            ephemeral: snapshot.ephemeral,
        });
        // Waiting ends with a change or the deadline; either way the loop looks once more.
        let _ = tokio::time::timeout_at(deadline, changes.changed()).await;
    }
}

/// A digest of what the request asks for (lists, subscriptions, extensions; not the to-device
/// token, which moves every time): while it stays the same, only the stream can bring news.
fn fingerprint(json: Option<&JsonValue>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut asked = json.cloned().unwrap_or_default();
    if let Some(object) = asked.as_object_mut() {
        for volatile in ["txn_id", "pos", "timeout"] {
            object.remove(volatile);
        }
        if let Some(to_device) = object
            .get_mut("extensions")
            .and_then(|extensions| extensions.get_mut("to_device"))
            .and_then(JsonValue::as_object_mut)
        {
            to_device.remove("since");
        }
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    asked.to_string().hash(&mut hasher);
    hasher.finish()
}

/// One response and the snapshot it leaves, with whether it carries anything new.
fn respond(
    state: &AppState,
    identity: &Identity,
    body: &v5::Request,
    previous: Option<&Snapshot>,
) -> Result<(JsonValue, Snapshot, bool), ApiError> {
    let rooms = &state.services.rooms;
    // Read the typing serial first: a change racing with this response shows up in the next.
    let ephemeral = state.services.typing.serial();
    let now = state.services.notifier.current();
    let since = previous.map(|snapshot| snapshot.events);
    let changes = match since {
        Some(since) => rooms.changes_between(&identity.user_id, since, now)?,
        None => StreamChanges::default(),
    };
    let context = Context {
        state,
        identity,
        since,
        ephemeral_since: previous.map(|snapshot| snapshot.ephemeral),
        now,
        changes,
        ignored: filtering::ignored_users(state, &identity.user_id),
        direct_rooms: direct_rooms(state, identity)?,
    };
    let empty = HashMap::new();
    let listed = rooms.listed_rooms(
        &identity.user_id,
        (since, now),
        previous.map_or(&empty, |snapshot| &snapshot.listed),
        &context.changes.rooms,
    )?;
    // Bump stamps: kept from the last response unless the room saw news since.
    let mut bumps = HashMap::new();
    for room in &listed {
        let kept = previous.and_then(|snapshot| snapshot.bumps.get(&room.room_id));
        let stale = context.changes.rooms.contains(&room.room_id)
            || since.is_some_and(|since| room.membership_position > since);
        let bump = match kept {
            Some(bump) if !stale => *bump,
            _ => rooms.bump_stamp(room, now)?,
        };
        bumps.insert(room.room_id.clone(), bump);
    }

    // The lists: filter, sort by recency, count, and select the rooms in range.
    let mut selected: BTreeMap<OwnedRoomId, (&ListedRoom, RoomConfig)> = BTreeMap::new();
    let mut lists = Map::new();
    let mut list_counts = BTreeMap::new();
    for (name, list) in &body.lists {
        let mut members: Vec<&ListedRoom> = listed
            .iter()
            .filter(|room| passes(&context, room, list.filters.as_ref()))
            .collect();
        members.sort_by(|a, b| {
            bumps[&b.room_id]
                .cmp(&bumps[&a.room_id])
                .then_with(|| a.room_id.cmp(&b.room_id))
        });
        for (start, end) in &list.ranges {
            let start = usize::try_from(u64::from(*start)).unwrap_or(usize::MAX);
            let end = usize::try_from(u64::from(*end)).unwrap_or(usize::MAX);
            if start > end {
                return Err(ApiError::bad_json(format!(
                    "List {name} has a range that ends before it starts"
                )));
            }
            for room in members
                .iter()
                .skip(start)
                .take(end.saturating_sub(start) + 1)
            {
                select(
                    &mut selected,
                    room,
                    &list.room_details.required_state,
                    list.room_details.timeline_limit,
                );
            }
        }
        lists.insert(name.clone(), json!({ "count": members.len() }));
        list_counts.insert(name.clone(), members.len());
    }
    // Subscriptions name rooms directly; only rooms the user is (or just was) in are served.
    for (room_id, subscription) in &body.room_subscriptions {
        if let Some(room) = listed.iter().find(|room| &room.room_id == room_id) {
            select(
                &mut selected,
                room,
                &subscription.required_state,
                subscription.timeline_limit,
            );
        }
    }

    let mut sent_rooms = previous
        .map(|snapshot| snapshot.rooms.clone())
        .unwrap_or_default();
    // Rooms no longer listed are forgotten: should they come back, they come whole.
    sent_rooms.retain(|room_id, _| bumps.contains_key(room_id));
    let mut rendered = Map::new();
    let mut for_extensions = Vec::with_capacity(selected.len());
    for (room_id, (room, config)) in &selected {
        let update = room::room_update(
            &context,
            room,
            config,
            sent_rooms.get(room_id),
            bumps[room_id],
        )?;
        if let Some(json) = update.json {
            rendered.insert(room_id.to_string(), json);
        }
        for_extensions.push(Selected {
            room_id: room_id.clone(),
            membership: room.membership,
            fresh: update.fresh,
        });
        sent_rooms.insert(room_id.clone(), update.sent);
    }
    let (extensions, extension_news) =
        extensions::extensions(&context, &body.extensions, &for_extensions)?;
    let news = !rendered.is_empty()
        || extension_news
        || previous.is_none_or(|snapshot| snapshot.list_counts != list_counts);
    let response = json!({ "lists": lists, "rooms": rendered, "extensions": extensions });
    let snapshot = Snapshot {
        events: now,
        ephemeral,
        rooms: sent_rooms,
        bumps,
        listed: listed
            .iter()
            .map(|room| (room.room_id.clone(), room.clone()))
            .collect(),
        list_counts,
        fingerprint: 0,
    };
    Ok((response, snapshot, news))
}

/// Adds a room to the selection with a list's or subscription's settings, merged with those of
/// the other lists that selected it.
fn select<'a>(
    selected: &mut BTreeMap<OwnedRoomId, (&'a ListedRoom, RoomConfig)>,
    room: &'a ListedRoom,
    required_state: &[(ruma::events::StateEventType, String)],
    timeline_limit: ruma::UInt,
) {
    let required: Vec<(String, String)> = required_state
        .iter()
        .map(|(kind, key)| (kind.to_string(), key.clone()))
        .collect();
    let limit = usize::try_from(u64::from(timeline_limit))
        .unwrap_or(usize::MAX)
        .min(MAX_TIMELINE_LIMIT);
    selected
        .entry(room.room_id.clone())
        .or_insert_with(|| (room, RoomConfig::default()))
        .1
        .merge(limit, &required);
}

/// Whether a room passes a list's filters (all of them; an absent filter passes everything).
fn passes(
    context: &Context<'_>,
    room: &ListedRoom,
    filters: Option<&request::ListFilters>,
) -> bool {
    let Some(filters) = filters else {
        return true;
    };
    let invited = room.membership == Membership::Invite;
    let room_type_matches = |filter: &RoomTypeFilter| match filter {
        RoomTypeFilter::Default => room.room_type.is_none(),
        other => other.as_str() == room.room_type.as_deref(),
    };
    filters
        .is_dm
        .is_none_or(|is_dm| is_dm == context.is_dm(room))
        && filters
            .is_encrypted
            .is_none_or(|encrypted| encrypted == room.encrypted)
        && filters
            .is_invite
            .is_none_or(|is_invite| is_invite == invited)
        && (filters.room_types.is_empty() || filters.room_types.iter().any(room_type_matches))
        && !filters.not_room_types.iter().any(room_type_matches)
}

/// The rooms named in the user's `m.direct` account data.
fn direct_rooms(state: &AppState, identity: &Identity) -> Result<BTreeSet<OwnedRoomId>, ApiError> {
    let content = state
        .services
        .users
        .account_data(&identity.user_id, None, "m.direct")?
        .unwrap_or_default();
    Ok(content
        .as_object()
        .into_iter()
        .flat_map(|by_user| by_user.values())
        .filter_map(JsonValue::as_array)
        .flatten()
        .filter_map(|room| {
            room.as_str()
                .and_then(|room| OwnedRoomId::try_from(room).ok())
        })
        .collect())
}
