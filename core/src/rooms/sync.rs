//! What changed for a user between two stream positions: the data behind `GET /sync`. It reads
//! only the stream items after `since` (not every room), then the rooms those items touch.

use std::collections::{BTreeMap, BTreeSet};

use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};
use serde_json::{Value as JsonValue, json};

use super::{Membership, PduEvent, Rooms, timeline::Direction};
use crate::{
    error::Result,
    stream::{Receipt, ReceiptType},
    stream::{StreamItem, StreamPosition, items_between},
};

/// State event types shown to invitees (the spec's recommended stripped state).
pub(crate) const STRIPPED_STATE_TYPES: &[&str] = &[
    "m.room.create",
    "m.room.join_rules",
    "m.room.name",
    "m.room.avatar",
    "m.room.canonical_alias",
    "m.room.encryption",
    "m.room.topic",
];

pub struct SyncRequest<'a> {
    pub user_id: &'a UserId,
    /// `None` for an initial sync.
    pub since: Option<StreamPosition>,
    pub timeline_limit: usize,
    pub full_state: bool,
    pub include_leave: bool,
    /// Which events count towards the timeline limit (the client's timeline filter).
    pub keep_in_timeline: &'a (dyn Fn(&PduEvent) -> bool + Sync),
    /// Whether `keep_in_timeline` can leave state events out (a type, sender or URL filter):
    /// only then does an incremental sync look for state changes the timeline does not show.
    pub timeline_may_drop_state: bool,
    /// The client asked for the state at the *end* of the timeline (`use_state_after`, spec
    /// v1.16, MSC4222) instead of the state at its start.
    pub use_state_after: bool,
    /// Lazy-loaded members: an incremental sync also brings the member events of the
    /// timeline's senders (and the user's own), which the client may never have had.
    pub lazy_members: bool,
}

pub struct JoinedRoom {
    pub room_id: OwnedRoomId,
    pub timeline: Vec<(StreamPosition, PduEvent)>,
    pub limited: bool,
    /// Token for `/messages?dir=b` from the start of the timeline.
    pub prev_batch: StreamPosition,
    pub state: Vec<PduEvent>,
    /// Joined count, invited count and heroes; `None` when unchanged since `since`.
    pub summary: Option<(usize, usize, Vec<OwnedUserId>)>,
    /// Joined since the `since` of an incremental sync.
    pub newly_joined: bool,
    /// With `use_state_after`: the state changes between `since` and the end of the timeline
    /// (all of the state when fresh), timeline events included; `state` is then empty.
    pub state_after: Option<Vec<PduEvent>>,
}

pub struct InvitedRoom {
    pub room_id: OwnedRoomId,
    pub invite_state: Vec<JsonValue>,
}

pub struct LeftRoom {
    pub room_id: OwnedRoomId,
    pub timeline: Vec<(StreamPosition, PduEvent)>,
    pub limited: bool,
    pub prev_batch: StreamPosition,
    pub state: Vec<PduEvent>,
    /// With `use_state_after`: the state changes between `since` and the leave (all of the
    /// state as of the leave in an initial sync).
    pub state_after: Option<Vec<PduEvent>>,
}

pub struct SyncData {
    pub next_position: StreamPosition,
    pub joined: Vec<JoinedRoom>,
    pub invited: Vec<InvitedRoom>,
    /// Rooms the user knocked on, with the same stripped state invitees get.
    pub knocked: Vec<InvitedRoom>,
    pub left: Vec<LeftRoom>,
    /// Account data types that changed: global (`None`) or per room.
    pub account_data_changes: BTreeSet<(Option<OwnedRoomId>, String)>,
    /// Receipts to send, per joined room.
    pub receipts: BTreeMap<OwnedRoomId, Vec<Receipt>>,
    /// Users whose devices the client must (re)fetch, and those it no longer shares a room with.
    pub device_lists: super::DeviceListChanges,
}

/// What [`Rooms::changes_between`] found in the stream.
#[derive(Default)]
pub struct StreamChanges {
    /// Rooms with new events, or where the user's own membership changed.
    pub rooms: BTreeSet<OwnedRoomId>,
    /// Each new event's position and room, in stream order.
    pub room_events: Vec<(StreamPosition, OwnedRoomId)>,
    /// Account data types that changed: global (`None`) or per room.
    pub account_data: BTreeSet<(Option<OwnedRoomId>, String)>,
    /// New receipts the user may see, per room.
    pub receipts: BTreeMap<OwnedRoomId, Vec<Receipt>>,
    /// Users whose device or cross-signing keys changed.
    pub device_key_users: BTreeSet<OwnedUserId>,
}

impl SyncData {
    pub fn is_empty(&self) -> bool {
        self.joined.is_empty()
            && self.invited.is_empty()
            && self.knocked.is_empty()
            && self.left.is_empty()
            && self.account_data_changes.is_empty()
            && self.device_lists.changed.is_empty()
            && self.device_lists.left.is_empty()
            && self.receipts.is_empty()
    }
}

impl Rooms {
    /// Users among `candidates` who are `user_id` or share a joined room with them: whose
    /// device changes `user_id` hears of.
    pub fn users_sharing_a_room(
        &self,
        user_id: &UserId,
        candidates: BTreeSet<ruma::OwnedUserId>,
    ) -> Result<BTreeSet<ruma::OwnedUserId>> {
        if candidates.is_empty() {
            return Ok(candidates);
        }
        let mine: BTreeSet<OwnedRoomId> = self.joined_rooms(user_id)?.into_iter().collect();
        let mut sharing = BTreeSet::new();
        for candidate in candidates {
            if candidate == user_id
                || self
                    .joined_rooms(&candidate)?
                    .iter()
                    .any(|room| mine.contains(room))
            {
                sharing.insert(candidate);
            }
        }
        Ok(sharing)
    }

    /// What the stream holds for `user_id` in `(since, now]`: rooms with new events (or the
    /// user's own membership changes), their account data, receipts and device-key changes.
    /// Both `/sync` and sliding sync start from this one pass over the stream.
    pub fn changes_between(
        &self,
        user_id: &UserId,
        since: StreamPosition,
        now: StreamPosition,
    ) -> Result<StreamChanges> {
        let mut changes = StreamChanges::default();
        for (position, item) in items_between(self.store(), since, now)? {
            match item {
                StreamItem::Event { room_id } => {
                    changes.room_events.push((position, room_id.clone()));
                    changes.rooms.insert(room_id);
                }
                StreamItem::AccountData {
                    user_id: owner,
                    room_id,
                    event_type,
                } if owner == user_id => {
                    changes.account_data.insert((room_id, event_type));
                }
                StreamItem::AccountData { .. } => {}
                StreamItem::ToDevice { .. } | StreamItem::Presence { .. } => {}
                StreamItem::DeviceKeys { user_id, .. } | StreamItem::SigningKeys { user_id } => {
                    changes.device_key_users.insert(user_id);
                }
                StreamItem::Membership {
                    room_id,
                    user_id: member,
                } => {
                    if member == user_id {
                        changes.rooms.insert(room_id);
                    }
                }
                StreamItem::Receipt { receipt } => {
                    let receipt = *receipt;
                    // Private receipts are only for their owner.
                    if receipt.receipt_type == ReceiptType::ReadPrivate
                        && receipt.user_id != user_id
                    {
                        continue;
                    }
                    changes
                        .receipts
                        .entry(receipt.room_id.clone())
                        .or_default()
                        .push(receipt);
                }
            }
        }
        Ok(changes)
    }

    /// Everything of `request.user_id` that changed after `since`, up to the current watermark.
    #[tracing::instrument(skip_all, fields(user_id = %request.user_id, since = ?request.since))]
    pub fn sync(&self, request: &SyncRequest<'_>) -> Result<SyncData> {
        let now = self.notifier().current();
        let since = request.since.unwrap_or(0);
        let StreamChanges {
            rooms: changed_rooms,
            room_events,
            account_data: account_data_changes,
            receipts: mut receipt_changes,
            device_key_users: device_list_changes,
        } = match request.since {
            Some(since) => self.changes_between(request.user_id, since, now)?,
            None => StreamChanges::default(),
        };
        let mut data = SyncData {
            next_position: now,
            joined: Vec::new(),
            invited: Vec::new(),
            knocked: Vec::new(),
            left: Vec::new(),
            account_data_changes,
            receipts: BTreeMap::new(),
            device_lists: self.device_list_changes(
                request.user_id,
                device_list_changes,
                &room_events,
            )?,
        };
        // Initial syncs look at every room of the user; incremental ones only at rooms where
        // something happened (the user's own membership changes are events in those rooms), so
        // an idle user in 500 rooms costs a few point lookups, not 500.
        let candidates = match request.since {
            None => self.user_rooms(request.user_id)?,
            Some(_) => {
                let mut touched: BTreeSet<OwnedRoomId> = changed_rooms.clone();
                touched.extend(receipt_changes.keys().cloned());
                let mut candidates = Vec::with_capacity(touched.len());
                for room_id in touched {
                    if let Some(record) = self.membership_record(&room_id, request.user_id)?
                        && !record.forgotten
                    {
                        candidates.push((room_id, record));
                    }
                }
                candidates
            }
        };
        for (room_id, record) in candidates {
            if record.position > now {
                continue; // Not readable yet: its commit is still in flight.
            }
            let initial = request.since.is_none();
            let membership_changed = record.position > since;
            match record.membership {
                Membership::Join
                    if initial
                        || request.full_state
                        || membership_changed
                        || changed_rooms.contains(&room_id)
                        || receipt_changes.contains_key(&room_id) =>
                {
                    let fresh = initial || request.full_state || membership_changed;
                    let receipts: Vec<Receipt> = if fresh {
                        self.room_receipts(&room_id)?
                            .into_iter()
                            .filter(|receipt| {
                                receipt.receipt_type == ReceiptType::Read
                                    || receipt.user_id == request.user_id
                            })
                            .collect()
                    } else {
                        receipt_changes.remove(&room_id).unwrap_or_default()
                    };
                    if !receipts.is_empty() {
                        data.receipts.insert(room_id.clone(), receipts);
                    }
                    // A room joined since the last sync is a gap for the client whatever the
                    // timeline holds: Synapse marks it `limited` so that clients drop what they
                    // had of it [Complement TestSync newly joined room].
                    let newly_joined = !initial && !request.full_state && membership_changed;
                    let mut room = self.joined_room(&room_id, request, since, now, fresh)?;
                    room.limited |= newly_joined;
                    room.newly_joined = newly_joined;
                    data.joined.push(room);
                }
                Membership::Invite if initial || membership_changed => {
                    data.invited.push(InvitedRoom {
                        invite_state: self.stripped_state(&room_id, request.user_id)?,
                        room_id,
                    });
                }
                Membership::Knock if initial || membership_changed => {
                    data.knocked.push(InvitedRoom {
                        invite_state: self.stripped_state(&room_id, request.user_id)?,
                        room_id,
                    });
                }
                Membership::Leave | Membership::Ban
                    if (membership_changed && !initial) || (initial && request.include_leave) =>
                {
                    let after = if initial { 0 } else { since };
                    let page = self.timeline_where(
                        &room_id,
                        after,
                        record.position,
                        Direction::Backward,
                        request.timeline_limit,
                        |position, event| {
                            self.event_visible(
                                &room_id,
                                request.user_id,
                                position,
                                Some(record.membership),
                            )
                            .unwrap_or(false)
                                && (request.keep_in_timeline)(event)
                        },
                    )?;
                    let mut timeline = page.events;
                    timeline.reverse();
                    // A room this server never followed (a rejected or rescinded invite, a
                    // refused knock): the leave itself is all there is to show, as Synapse
                    // shows it.
                    if timeline.is_empty()
                        && self.room_info(&room_id)?.is_none()
                        && let Some(leave) = self.pdu(&record.event_id)?
                        && (request.keep_in_timeline)(&leave)
                    {
                        timeline.push((record.position, leave));
                    }
                    let prev_batch = timeline
                        .first()
                        .map_or(record.position, |(position, _)| position.saturating_sub(1));
                    let state_after = if request.use_state_after {
                        Some(self.left_state_after(
                            &room_id,
                            &record.event_id,
                            (!initial && !request.full_state).then_some(since),
                            record.position,
                        )?)
                    } else {
                        None
                    };
                    data.left.push(LeftRoom {
                        room_id,
                        timeline,
                        limited: page.more,
                        prev_batch,
                        state: Vec::new(),
                        state_after,
                    });
                }
                _ => {}
            }
        }
        Ok(data)
    }

    /// Joined and invited counts, and up to five other members to name an unnamed room by.
    pub fn member_summary(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
    ) -> Result<(usize, usize, Vec<OwnedUserId>)> {
        let mut by_membership: BTreeMap<String, Vec<OwnedUserId>> = BTreeMap::new();
        for event in self.member_events(room_id)? {
            let membership = event
                .content_json()
                .get("membership")
                .and_then(|value| value.as_str())
                .unwrap_or_default()
                .to_owned();
            if let Some(member) = event
                .state_key
                .as_deref()
                .and_then(|key| UserId::parse(key).ok())
            {
                by_membership.entry(membership).or_default().push(member);
            }
        }
        let joined = by_membership.get("join").map_or(0, Vec::len);
        let invited = by_membership.get("invite").map_or(0, Vec::len);
        let heroes = ["join", "invite"]
            .iter()
            .filter_map(|kind| by_membership.get(*kind))
            .flatten()
            .filter(|member| *member != user_id)
            .take(5)
            .cloned()
            .collect();
        Ok((joined, invited, heroes))
    }

    /// The stripped state an invitee sees, including the invite itself.
    pub fn stripped_state(&self, room_id: &RoomId, user_id: &UserId) -> Result<Vec<JsonValue>> {
        if self.room_info(room_id)?.is_none() {
            return Ok(self
                .remote_invite_state(room_id, user_id)?
                .unwrap_or_default());
        }
        let mut events = Vec::new();
        for kind in STRIPPED_STATE_TYPES {
            if let Some(event) = self.state_pdu(room_id, kind, "")? {
                events.push(stripped(&event));
            }
        }
        if let Some(invite) = self.state_pdu(room_id, "m.room.member", user_id.as_str())? {
            if invite.sender != user_id
                && let Some(inviter) =
                    self.state_pdu(room_id, "m.room.member", invite.sender.as_str())?
            {
                events.push(stripped(&inviter));
            }
            events.push(stripped(&invite));
        }
        Ok(events)
    }
}

fn stripped(event: &PduEvent) -> JsonValue {
    json!({
        "type": event.kind.to_string(),
        "state_key": event.state_key.clone().unwrap_or_default(),
        "sender": event.sender,
        "content": event.content_json(),
    })
}
