//! Reading a room's timeline in stream order, and what a user may see of it.

use std::ops::Bound;

use ruma::{EventId, RoomId, UserId};

use super::{Membership, PduEvent, Rooms, persist::ROOMPOSITION_EVENTID, persist::timeline_key};
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Backward,
}

/// Events with their stream positions, in the order asked for.
pub struct TimelinePage {
    pub events: Vec<(u64, PduEvent)>,
    /// Whether more events lie beyond the last one returned (within the bounds).
    pub more: bool,
}

impl Rooms {
    /// Events of a room in `(after, up_to]` stream positions, taking `limit` from the end
    /// nearest the starting point: `Backward` starts at `up_to` and walks back, `Forward`
    /// starts after `after`.
    pub fn timeline(
        &self,
        room_id: &RoomId,
        after: u64,
        up_to: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<TimelinePage> {
        if up_to <= after || limit == 0 {
            return Ok(TimelinePage {
                events: Vec::new(),
                more: up_to > after,
            });
        }
        let start = timeline_key(room_id, after + 1);
        let end = timeline_key(room_id, up_to);
        let rows = self.store().range(
            ROOMPOSITION_EVENTID,
            Bound::Included(&start),
            Bound::Included(&end),
            direction == Direction::Backward,
            limit + 1,
        )?;
        let more = rows.len() > limit;
        let prefix_len = room_id.as_bytes().len() + 1;
        let events = rows
            .into_iter()
            .take(limit)
            .map(|(key, value)| {
                let position = key
                    .get(prefix_len..)
                    .and_then(|bytes| bytes.try_into().ok())
                    .map(u64::from_be_bytes)
                    .ok_or_else(|| Error::Storage("bad timeline key".into()))?;
                let event_id = String::from_utf8(value)
                    .ok()
                    .and_then(|id| EventId::parse(id).ok())
                    .ok_or_else(|| Error::Storage("bad timeline value".into()))?;
                let pdu = self
                    .pdu(&event_id)?
                    .ok_or_else(|| Error::Storage(format!("timeline event {event_id} missing")))?;
                Ok((position, pdu))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(TimelinePage { events, more })
    }

    /// The last stream position of the room `user_id` may read: everything while joined, up to
    /// their departure after leaving. `Forbidden` for users who never joined.
    pub fn readable_until(&self, room_id: &RoomId, user_id: &UserId) -> Result<u64> {
        self.existing_room(room_id)?;
        match self.membership_record(room_id, user_id)? {
            Some(record) if record.membership == Membership::Join => Ok(self.notifier().current()),
            Some(record)
                if matches!(record.membership, Membership::Leave | Membership::Ban)
                    && self.was_joined_before(room_id, user_id)? =>
            {
                Ok(record.position)
            }
            _ => Err(Error::Forbidden("You are not a member of this room".into())),
        }
    }

    fn was_joined_before(&self, room_id: &RoomId, user_id: &UserId) -> Result<bool> {
        // A leave whose previous membership was a join: the member event's auth chain holds it.
        let Some(record) = self.membership_record(room_id, user_id)? else {
            return Ok(false);
        };
        let Some(leave) = self.pdu(&record.event_id)? else {
            return Ok(false);
        };
        for auth_id in &leave.auth_events {
            if let Some(auth) = self.pdu(auth_id)?
                && auth.state_key.as_deref() == Some(user_id.as_str())
                && auth
                    .content_json()
                    .get("membership")
                    .and_then(|m| m.as_str())
                    == Some("join")
            {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
