//! The data behind simplified sliding sync (MSC4186): a user's rooms with what room lists filter
//! and sort them by, and one room's window of timeline. The connection bookkeeping (which room
//! was sent up to where) belongs to the client API; this module only answers questions.

use std::collections::{BTreeSet, HashMap};

use ruma::{OwnedRoomId, RoomId, UserId};
use serde_json::Value as JsonValue;

use super::{Membership, PduEvent, Rooms, timeline::Direction};
use crate::{error::Result, stream::StreamPosition};

/// Event types that move a room up a recency-sorted list. Synapse's set: state changes, edits
/// and reactions do not bump a room.
const BUMP_TYPES: &[&str] = &[
    "m.room.create",
    "m.room.message",
    "m.room.encrypted",
    "m.sticker",
    "m.call.invite",
    "m.poll.start",
    "m.beacon_info",
];

/// How far back a room's timeline is searched for a bump event before settling for the oldest
/// event looked at (a room with only state churn sorts by that, not by the churn).
const BUMP_SCAN: usize = 50;

/// A room as a list sees it.
#[derive(Debug, Clone)]
pub struct ListedRoom {
    pub room_id: OwnedRoomId,
    pub membership: Membership,
    /// Where the user's membership last changed.
    pub membership_position: StreamPosition,
    pub encrypted: bool,
    /// The `type` of the room's create event (`m.space`…).
    pub room_type: Option<String>,
    /// Whether the invite says the room is a direct chat (`is_direct`).
    pub direct_invite: bool,
}

/// A stretch of a room's timeline as one user may see it, oldest first.
pub struct RoomWindow {
    pub timeline: Vec<(StreamPosition, PduEvent)>,
    pub limited: bool,
    /// Token position for `/messages?dir=b` from the start of the window.
    pub prev_batch: StreamPosition,
}

impl Rooms {
    /// The rooms a user's lists choose from: joined, invited and knocked rooms, and rooms left or
    /// banned from after `since` (so the client hears of the departure). Memberships whose
    /// commit is still in flight (after `now`) are left for the next request. Entries of `known`
    /// are reused for rooms outside `changed` whose membership is the same (a room's encryption
    /// and type change only through its own events).
    pub fn listed_rooms(
        &self,
        user_id: &UserId,
        (since, now): (Option<StreamPosition>, StreamPosition),
        known: &HashMap<OwnedRoomId, ListedRoom>,
        changed: &BTreeSet<OwnedRoomId>,
    ) -> Result<Vec<ListedRoom>> {
        let mut rooms = Vec::new();
        for (room_id, record) in self.user_rooms(user_id)? {
            if record.position > now {
                continue;
            }
            let departed = matches!(record.membership, Membership::Leave | Membership::Ban);
            if departed && since.is_none_or(|since| record.position <= since) {
                continue;
            }
            if let Some(room) = known.get(&room_id).filter(|room| {
                room.membership_position == record.position && !changed.contains(&room_id)
            }) {
                rooms.push(room.clone());
                continue;
            }
            let (encrypted, room_type, direct_invite) =
                self.list_facts(&room_id, user_id, record.membership)?;
            rooms.push(ListedRoom {
                room_id,
                membership: record.membership,
                membership_position: record.position,
                encrypted,
                room_type,
                direct_invite,
            });
        }
        Ok(rooms)
    }

    /// Encryption, room type and `is_direct` of the invite: from the room's state where this
    /// server has it, from the invite's stripped state otherwise.
    fn list_facts(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        membership: Membership,
    ) -> Result<(bool, Option<String>, bool)> {
        let invited = matches!(membership, Membership::Invite | Membership::Knock);
        if self.room_info(room_id)?.is_some() {
            let encrypted = self.state_pdu(room_id, "m.room.encryption", "")?.is_some();
            let room_type = self
                .state_pdu(room_id, "m.room.create", "")?
                .and_then(|create| create.content_json()["type"].as_str().map(str::to_owned));
            let direct_invite = invited
                && self
                    .state_pdu(room_id, "m.room.member", user_id.as_str())?
                    .is_some_and(|invite| invite.content_json()["is_direct"] == true);
            return Ok((encrypted, room_type, direct_invite));
        }
        let stripped = self.stripped_state(room_id, user_id)?;
        let find = |kind: &str, key: &str| -> Option<&JsonValue> {
            stripped
                .iter()
                .find(|event| event["type"] == kind && event["state_key"] == key)
        };
        let encrypted = find("m.room.encryption", "").is_some();
        let room_type = find("m.room.create", "")
            .and_then(|create| create["content"]["type"].as_str().map(str::to_owned));
        let direct_invite = find("m.room.member", user_id.as_str())
            .is_some_and(|invite| invite["content"]["is_direct"] == true);
        Ok((encrypted, room_type, direct_invite))
    }

    /// The room's recency for sorting: the position of its newest bump event the user can have
    /// seen. Invitees and knockers sort by their membership change (they see no timeline), and
    /// departed users by what happened up to their departure.
    pub fn bump_stamp(&self, room: &ListedRoom, now: StreamPosition) -> Result<StreamPosition> {
        let until = match room.membership {
            Membership::Join => now,
            Membership::Invite | Membership::Knock => return Ok(room.membership_position),
            Membership::Leave | Membership::Ban => room.membership_position,
        };
        // Ids first (one range read), events one by one: usually the newest is the answer.
        let mut oldest = None;
        for (position, event_id) in self.newest_event_ids(&room.room_id, until, BUMP_SCAN)? {
            oldest = Some(position);
            if self
                .pdu(&event_id)?
                .is_some_and(|event| BUMP_TYPES.contains(&event.kind.to_string().as_str()))
            {
                return Ok(position);
            }
        }
        Ok(oldest.unwrap_or(room.membership_position))
    }

    /// Up to `limit` events in `(after, until]` the user may see and `keep` accepts, newest last.
    pub fn room_window(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        membership: Membership,
        (after, until): (StreamPosition, StreamPosition),
        limit: usize,
        keep: &(dyn Fn(&PduEvent) -> bool + Sync),
    ) -> Result<RoomWindow> {
        let page = self.timeline_where(
            room_id,
            after,
            until,
            Direction::Backward,
            limit,
            |position, event| {
                self.event_visible(room_id, user_id, position, Some(membership))
                    .unwrap_or(false)
                    && keep(event)
            },
        )?;
        let mut timeline = page.events;
        timeline.reverse();
        let prev_batch = timeline
            .first()
            .map_or(until, |(position, _)| position.saturating_sub(1));
        Ok(RoomWindow {
            timeline,
            limited: page.more,
            prev_batch,
        })
    }

    /// Current state events whose event came after `after` (state that changed since then).
    pub fn state_changed_after(
        &self,
        room_id: &RoomId,
        after: StreamPosition,
    ) -> Result<Vec<PduEvent>> {
        let mut changed = Vec::new();
        for event in self.current_state(room_id)? {
            if self
                .event_position(&event.event_id)?
                .is_some_and(|position| position > after)
            {
                changed.push(event);
            }
        }
        Ok(changed)
    }
}
