//! Reading a room's timeline in stream order, and what a user may see of it.

use std::ops::Bound;

use ruma::{EventId, OwnedEventId, RoomId, UserId};

use super::{
    Membership, PduEvent, Rooms,
    persist::{ROOMPOSITION_EVENTID, ROOMTS_EVENTID, timeline_key},
};
use crate::error::{Error, Result};

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
        self.timeline_where(room_id, after, up_to, direction, limit, |_, _| true)
    }

    /// [`Rooms::timeline`] counting only events `keep` accepts, so a filter applies before the
    /// limit rather than emptying a page after it.
    pub fn timeline_where(
        &self,
        room_id: &RoomId,
        after: u64,
        up_to: u64,
        direction: Direction,
        limit: usize,
        keep: impl Fn(u64, &PduEvent) -> bool,
    ) -> Result<TimelinePage> {
        let mut events = Vec::new();
        let (mut low, mut high) = (after, up_to);
        let batch = (limit + 1).max(16);
        while high > low && events.len() <= limit {
            let start = timeline_key(room_id, low + 1);
            let end = timeline_key(room_id, high);
            let rows = self.store().range(
                ROOMPOSITION_EVENTID,
                Bound::Included(&start),
                Bound::Included(&end),
                direction == Direction::Backward,
                batch,
            )?;
            let exhausted = rows.len() < batch;
            for (position, pdu) in self.decode_timeline_rows(room_id, rows)? {
                match direction {
                    Direction::Backward => high = position - 1,
                    Direction::Forward => low = position,
                }
                if keep(position, &pdu) {
                    events.push((position, pdu));
                    if events.len() > limit {
                        break;
                    }
                }
            }
            if exhausted {
                break;
            }
        }
        let more = events.len() > limit;
        events.truncate(limit);
        Ok(TimelinePage { events, more })
    }

    fn decode_timeline_rows(
        &self,
        room_id: &RoomId,
        rows: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<Vec<(u64, PduEvent)>> {
        rows.into_iter()
            .map(|row| {
                let (position, event_id) = decode_timeline_row(room_id, row)?;
                let pdu = self
                    .pdu(&event_id)?
                    .ok_or_else(|| Error::Storage(format!("timeline event {event_id} missing")))?;
                Ok((position, pdu))
            })
            .collect()
    }

    /// Positions and ids of the newest `limit` events at or before `up_to`, newest first,
    /// without reading the events.
    pub(super) fn newest_event_ids(
        &self,
        room_id: &RoomId,
        up_to: u64,
        limit: usize,
    ) -> Result<Vec<(u64, OwnedEventId)>> {
        let start = timeline_key(room_id, 1);
        let end = timeline_key(room_id, up_to);
        self.store()
            .range(
                ROOMPOSITION_EVENTID,
                Bound::Included(&start),
                Bound::Included(&end),
                true,
                limit,
            )?
            .into_iter()
            .map(|row| decode_timeline_row(room_id, row))
            .collect()
    }

    /// The last stream position of the room `user_id` may read: everything while joined, up to
    /// their departure after leaving. `Forbidden` for users who never joined.
    pub fn readable_until(&self, room_id: &RoomId, user_id: &UserId) -> Result<u64> {
        // An unknown room reads as one the user is not in (403), as Synapse answers
        // [Complement TestFetchMessagesFromNonExistentRoom]: whether it exists stays private.
        if self.room_info(room_id)?.is_none() {
            return Err(Error::Forbidden("You are not a member of this room".into()));
        }
        match self.membership_record(room_id, user_id)? {
            Some(record) if record.membership == Membership::Join => Ok(self.notifier().current()),
            // A forgotten room's history is closed to the user [Complement TestRoomForget].
            Some(record)
                if matches!(record.membership, Membership::Leave | Membership::Ban)
                    && !record.forgotten
                    && self.was_joined_before(room_id, user_id)? =>
            {
                Ok(record.position)
            }
            _ if self.visibility_at(room_id, self.notifier().current())?
                == super::HistoryVisibility::WorldReadable =>
            {
                Ok(self.notifier().current())
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

impl Rooms {
    /// The event closest to `ts`: the first at or after it (`Forward`) or the last at or before
    /// it (`Backward`), among events `user_id` may read.
    pub fn event_at_timestamp(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        ts: u64,
        direction: Direction,
    ) -> Result<Option<PduEvent>> {
        let readable_until = self.readable_until(room_id, user_id)?;
        self.event_near_timestamp(room_id, ts, direction, readable_until)
    }

    /// [`Rooms::event_at_timestamp`] over the whole room (for other servers).
    pub fn event_at_timestamp_any(
        &self,
        room_id: &RoomId,
        ts: u64,
        direction: Direction,
    ) -> Result<Option<PduEvent>> {
        self.event_near_timestamp(room_id, ts, direction, u64::MAX)
    }

    fn event_near_timestamp(
        &self,
        room_id: &RoomId,
        ts: u64,
        direction: Direction,
        readable_until: u64,
    ) -> Result<Option<PduEvent>> {
        let room_prefix = crate::storage::compound_key(&[room_id.as_bytes(), b""]);
        let at = crate::storage::compound_key(&[room_id.as_bytes(), &ts.to_be_bytes(), b""]);
        let at_end = crate::storage::compound_key(&[
            room_id.as_bytes(),
            &ts.to_be_bytes(),
            &u64::MAX.to_be_bytes(),
        ]);
        let upper = crate::storage::prefix_upper_bound(&room_prefix);
        let rows = match direction {
            Direction::Forward => {
                let end = upper.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
                self.store()
                    .range(ROOMTS_EVENTID, Bound::Included(&at), end, false, 64)?
            }
            Direction::Backward => self.store().range(
                ROOMTS_EVENTID,
                Bound::Included(&room_prefix),
                Bound::Included(&at_end),
                true,
                64,
            )?,
        };
        for (_, value) in rows {
            let Some(event_id) = String::from_utf8(value)
                .ok()
                .and_then(|id| EventId::parse(id).ok())
            else {
                continue;
            };
            if self
                .event_position(&event_id)?
                .is_some_and(|position| position <= readable_until)
            {
                return self.pdu(&event_id);
            }
        }
        Ok(None)
    }

    /// Up to `before` events before and `after` events after `event_id` that `user_id` may see,
    /// for `/context`.
    #[allow(clippy::too_many_arguments)]
    pub fn context(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        event_id: &EventId,
        readable_until: u64,
        before: usize,
        after: usize,
        keep: &dyn Fn(&PduEvent) -> bool,
    ) -> Result<Option<(u64, TimelinePage, TimelinePage)>> {
        let Some(position) = self.event_position(event_id)? else {
            return Ok(None);
        };
        let current = self.membership(room_id, user_id)?;
        if position > readable_until
            || self
                .pdu(event_id)?
                .is_none_or(|event| event.room() != room_id)
            || !self.event_visible(room_id, user_id, position, current)?
        {
            return Ok(None);
        }
        let visible = |position: u64, event: &PduEvent| {
            keep(event)
                && self
                    .event_visible(room_id, user_id, position, current)
                    .unwrap_or(false)
        };
        let earlier = self.timeline_where(
            room_id,
            0,
            position.saturating_sub(1),
            Direction::Backward,
            before,
            visible,
        )?;
        let later = self.timeline_where(
            room_id,
            position,
            readable_until,
            Direction::Forward,
            after,
            visible,
        )?;
        Ok(Some((position, earlier, later)))
    }
}

/// A timeline row: the position from the key, the event id from the value.
pub(super) fn decode_timeline_row(
    room_id: &RoomId,
    (key, value): (Vec<u8>, Vec<u8>),
) -> Result<(u64, OwnedEventId)> {
    let prefix_len = room_id.as_bytes().len() + 1;
    let position = key
        .get(prefix_len..)
        .and_then(|bytes| bytes.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| Error::Storage("bad timeline key".into()))?;
    let event_id = String::from_utf8(value)
        .ok()
        .and_then(|id| EventId::parse(id).ok())
        .ok_or_else(|| Error::Storage("bad timeline value".into()))?;
    Ok((position, event_id))
}

impl Rooms {
    /// Up to `limit` of the user's events in the room that a redaction would change, newest
    /// first: their messages and other non-state events, and their own member events, not yet
    /// redacted (Synapse's user redaction leaves the rest of the room's state alone).
    pub fn redactable_events_of(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        limit: usize,
    ) -> Result<Vec<PduEvent>> {
        let page = self.timeline_where(
            room_id,
            0,
            u64::MAX,
            Direction::Backward,
            limit,
            |_, event| {
                event.sender == user_id
                    && event.kind != ruma::events::TimelineEventType::RoomRedaction
                    && (!event.is_state()
                        || (event.kind == ruma::events::TimelineEventType::RoomMember
                            && event.state_key.as_deref() == Some(user_id.as_str())))
                    && !event.is_redacted()
            },
        )?;
        Ok(page
            .events
            .into_iter()
            .take(limit)
            .map(|(_, event)| event)
            .collect())
    }

    /// How many invites the user sent since `from_ts` (milliseconds), in the rooms they are
    /// or were in.
    pub fn invites_sent_since(&self, user_id: &UserId, from_ts: u64) -> Result<usize> {
        let mut count = 0;
        for room_id in self.rooms_ever_joined(user_id)? {
            let page = self.timeline_where(
                &room_id,
                0,
                u64::MAX,
                Direction::Forward,
                usize::MAX - 1,
                |_, event| {
                    event.sender == user_id
                        && event.kind == ruma::events::TimelineEventType::RoomMember
                        && u64::from(event.origin_server_ts.0) >= from_ts
                        && event
                            .content_json()
                            .get("membership")
                            .and_then(|m| m.as_str())
                            == Some("invite")
                },
            )?;
            count += page.events.len();
        }
        Ok(count)
    }
}
