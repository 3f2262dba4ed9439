//! Rendering `/sync` data as the spec's JSON, through the client's filter.

use std::collections::BTreeSet;

use myelin_core::{
    ephemeral::Receipt,
    rooms::{JoinedRoom, LeftRoom, PduEvent, SyncData},
    users::Identity,
};
use ruma::{
    OwnedRoomId, OwnedUserId, UserId, api::client::filter::FilterDefinition,
    events::TimelineEventType,
};
use serde_json::{Map, Value as JsonValue, json};

use crate::{
    ApiError, AppState, filtering,
    room::{client_event, format_token},
};

/// Typing users per room.
pub(super) type TypingRooms = Vec<(OwnedRoomId, Vec<OwnedUserId>)>;

/// What rendering needs besides the data: the filter (prepared once) and the ignored users.
pub(super) struct View<'a> {
    pub identity: &'a Identity,
    pub filter: &'a FilterDefinition,
    pub ignored: BTreeSet<OwnedUserId>,
    pub initial: bool,
    /// The client asked for the full state (`full_state=true`).
    pub full_state: bool,
    /// Where the state at the end of the timeline goes (`state_after` or its unstable name),
    /// when the client asked for it.
    pub state_after_key: Option<&'static str>,
    state_filter: filtering::EventFilter<'a>,
    room_account_data_filter: filtering::EventFilter<'a>,
    ephemeral_filter: filtering::EventFilter<'a>,
    account_data_filter: filtering::TypeSenderFilter<'a>,
}

impl<'a> View<'a> {
    pub fn new(
        identity: &'a Identity,
        filter: &'a FilterDefinition,
        ignored: BTreeSet<OwnedUserId>,
        initial: bool,
    ) -> Result<Self, ApiError> {
        let global = &filter.account_data;
        Ok(Self {
            identity,
            filter,
            ignored,
            initial,
            full_state: false,
            state_after_key: None,
            state_filter: filtering::EventFilter::new(&filter.room.state)?,
            room_account_data_filter: filtering::EventFilter::new(&filter.room.account_data)?,
            ephemeral_filter: filtering::EventFilter::new(&filter.room.ephemeral)?,
            account_data_filter: filtering::TypeSenderFilter::new(
                global.types.as_deref(),
                &global.not_types,
                global.senders.as_deref(),
                &global.not_senders,
            )?,
        })
    }

    fn room_wanted(&self, room_id: &ruma::RoomId) -> bool {
        filtering::room_passes(
            self.filter.room.rooms.as_ref(),
            &self.filter.room.not_rooms,
            room_id,
        )
    }

    /// The timeline as core selected it: the filter and ignored users were applied there, before
    /// the limit.
    fn timeline(&self, state: &AppState, events: &[(u64, PduEvent)]) -> Vec<JsonValue> {
        events
            .iter()
            .map(|(_, event)| client_event(state, event, self.identity, false))
            .collect()
    }

    fn state(
        &self,
        state: &AppState,
        room_state: &[PduEvent],
        timeline: &[(u64, PduEvent)],
        dedupe_in: Option<&OwnedRoomId>,
    ) -> Vec<JsonValue> {
        let mut events: Vec<PduEvent> = room_state
            .iter()
            .filter(|event| self.state_filter.passes_event(event))
            .cloned()
            .collect();
        if self.state_filter.lazy_loading() {
            let senders: Vec<&PduEvent> = timeline.iter().map(|(_, event)| event).collect();
            events = filtering::lazy_load_state(events, &senders, &self.identity.user_id);
            // Members the device already has are not sent again, unless it asked for them.
            if let Some(room_id) = dedupe_in
                && !self.state_filter.redundant_members()
            {
                let members: Vec<_> = events
                    .iter()
                    .filter(|event| event.kind == TimelineEventType::RoomMember)
                    .map(|event| event.event_id.clone())
                    .collect();
                let unsent = state.lazy_sent.unsent(
                    &self.identity.user_id,
                    &self.identity.device_id,
                    room_id,
                    members,
                );
                events.retain(|event| {
                    event.kind != TimelineEventType::RoomMember || unsent.contains(&event.event_id)
                });
            }
        }
        events
            .iter()
            .map(|event| client_event(state, event, self.identity, false))
            .collect()
    }

    /// `state` (the state at the start of the timeline), or with `use_state_after` the state
    /// at its end under the name the client asked with (`state` left out, as MSC4222 says).
    fn put_state(
        &self,
        state: &AppState,
        rendered: &mut JsonValue,
        room_state: &[PduEvent],
        state_after: Option<&[PduEvent]>,
        timeline: &[(u64, PduEvent)],
        dedupe_in: Option<&OwnedRoomId>,
    ) {
        match (self.state_after_key, state_after) {
            (Some(key), Some(after)) => {
                rendered[key] = json!({ "events": self.state(state, after, timeline, dedupe_in) });
            }
            _ => {
                rendered["state"] =
                    json!({ "events": self.state(state, room_state, timeline, dedupe_in) })
            }
        }
    }

    fn account_data(&self, events: Vec<(String, JsonValue)>, room: bool) -> Vec<JsonValue> {
        let wanted = |kind: &str| {
            if room {
                self.room_account_data_filter
                    .passes(kind, &self.identity.user_id, None)
            } else {
                self.account_data_filter.type_passes(kind)
            }
        };
        events
            .into_iter()
            .filter(|(kind, _)| wanted(kind))
            .map(|(kind, content)| json!({ "type": kind, "content": content }))
            .collect()
    }

    fn ephemeral_wanted(&self, kind: &str) -> bool {
        self.ephemeral_filter
            .passes(kind, &self.identity.user_id, None)
    }
}

pub(super) fn render(
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
            .filter(|(kind, content)| {
                // A deleted entry (MSC3391) is news to an incremental sync only.
                (view.initial && !crate::account_data::delete::is_deleted(content))
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
            // Threads without unread events, and an empty map, are left out, as in Synapse.
            if !threads.is_empty() {
                rendered["unread_thread_notifications"] = JsonValue::Object(threads);
            }
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
        .filter(|room| view.room_wanted(&room.room_id) && !invited_by_ignored(state, view, room))
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
    let mut global: Vec<(String, JsonValue)> = users
        .all_account_data(&identity.user_id, None)?
        .into_iter()
        .filter(|(kind, content)| {
            (view.initial && !crate::account_data::delete::is_deleted(content))
                || data.account_data_changes.contains(&(None, kind.clone()))
        })
        .collect();
    // A user who never changed a push rule still gets `m.push_rules` (the server defaults) in
    // the initial sync, as Synapse sends it [Complement TestPushSync]: clients read their rules
    // from there.
    if view.initial && !global.iter().any(|(kind, _)| kind == "m.push_rules") {
        let rules = crate::push::ruleset_json(&users.push_rules(&identity.user_id)?)?;
        global.push(("m.push_rules".to_owned(), json!({ "global": rules })));
    }
    Ok(json!({
        "rooms": { "join": join, "invite": invite, "leave": leave, "knock": knock },
        "account_data": { "events": view.account_data(global, false) },
        "device_one_time_keys_count": users.one_time_key_counts(&identity.user_id, &identity.device_id)?,
        "device_unused_fallback_key_types": users.unused_fallback_key_types(&identity.user_id, &identity.device_id)?,
    }))
}

/// Invites from ignored users are dropped, as the spec asks, and so are those the invitee's
/// invite permission config ignores or blocks (MSC4155; a blocked one can only have come
/// before the config did).
fn invited_by_ignored(
    state: &AppState,
    view: &View<'_>,
    room: &myelin_core::rooms::InvitedRoom,
) -> bool {
    room.invite_state.iter().any(|event| {
        event["type"] == "m.room.member"
            && event["state_key"] == view.identity.user_id.as_str()
            && event["sender"]
                .as_str()
                .and_then(|sender| UserId::parse(sender).ok())
                .is_some_and(|sender| {
                    view.ignored.contains(&sender)
                        || state
                            .services
                            .users
                            .invite_decision(&view.identity.user_id, &sender)
                            .is_ok_and(|decision| {
                                decision != myelin_core::users::InviteDecision::Allow
                            })
                })
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
    let mut rendered = json!({
        "timeline": { "events": view.timeline(state, &room.timeline), "limited": room.limited, "prev_batch": format_token(room.prev_batch) },
        "ephemeral": { "events": [] },
        "summary": summary,
    });
    // After a gap, a (re)join or a full-state sync, the client may not have what it was sent of
    // the room before.
    let identity = view.identity;
    if room.limited || room.newly_joined || view.full_state {
        state
            .lazy_sent
            .forget_room(&identity.user_id, &identity.device_id, &room.room_id);
    }
    view.put_state(
        state,
        &mut rendered,
        &room.state,
        room.state_after.as_deref(),
        &room.timeline,
        Some(&room.room_id),
    );
    rendered
}

fn render_left(state: &AppState, view: &View<'_>, room: &LeftRoom) -> JsonValue {
    let mut rendered = json!({
        "timeline": { "events": view.timeline(state, &room.timeline), "limited": room.limited, "prev_batch": format_token(room.prev_batch) },
        "account_data": { "events": [] },
    });
    view.put_state(
        state,
        &mut rendered,
        &room.state,
        room.state_after.as_deref(),
        &room.timeline,
        None,
    );
    rendered
}

/// One `m.receipt` event: `{event_id: {receipt_type: {user_id: {ts, thread_id?}}}}`.
pub(crate) fn receipt_event(receipts: &[Receipt]) -> JsonValue {
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
