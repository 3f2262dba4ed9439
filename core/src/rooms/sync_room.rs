//! One room of a `/sync`: a joined room's timeline window with the state at its start (or, with
//! `use_state_after`, at its end), the members lazy-loading adds, and a left room's state.

use std::collections::BTreeSet;

use ruma::{RoomId, UserId};

use super::{
    Membership, PduEvent, Rooms,
    sync::{JoinedRoom, SyncRequest},
    timeline::Direction,
};
use crate::{error::Result, stream::StreamPosition};

impl Rooms {
    /// With lazy-loaded members, the current member events of the timeline's senders and of
    /// the user that `state` lacks and the timeline does not carry, as Synapse adds them to an
    /// incremental sync ("the only membership state included in an incremental sync is for
    /// senders in the timeline").
    fn lazy_members(
        &self,
        room_id: &RoomId,
        request: &SyncRequest<'_>,
        timeline: &[(StreamPosition, PduEvent)],
        state: &mut Vec<PduEvent>,
    ) -> Result<()> {
        if !request.lazy_members || timeline.is_empty() {
            return Ok(());
        }
        let mut wanted: BTreeSet<&UserId> =
            timeline.iter().map(|(_, event)| &*event.sender).collect();
        wanted.insert(request.user_id);
        let carried: BTreeSet<&ruma::EventId> = timeline
            .iter()
            .map(|(_, event)| &*event.event_id)
            .chain(state.iter().map(|event| &*event.event_id))
            .collect();
        let mut added = Vec::new();
        for user in wanted {
            if let Some(member) = self.state_pdu(room_id, "m.room.member", user.as_str())?
                && !carried.contains(&*member.event_id)
            {
                added.push(member);
            }
        }
        state.extend(added);
        Ok(())
    }

    pub(super) fn joined_room(
        &self,
        room_id: &RoomId,
        request: &SyncRequest<'_>,
        since: StreamPosition,
        now: StreamPosition,
        fresh: bool,
    ) -> Result<JoinedRoom> {
        let after = if fresh { 0 } else { since };
        let page = self.timeline_where(
            room_id,
            after,
            now,
            Direction::Backward,
            request.timeline_limit,
            |position, event| {
                self.event_visible(room_id, request.user_id, position, Some(Membership::Join))
                    .unwrap_or(false)
                    && (request.keep_in_timeline)(event)
            },
        )?;
        let mut timeline = page.events;
        timeline.reverse();
        let prev_batch = timeline
            .first()
            .map_or(now, |(position, _)| position.saturating_sub(1));
        // State is the state at the start of the timeline: current state, less what the
        // timeline itself sets. Sent whole for fresh rooms and after a gap.
        let in_timeline: BTreeSet<_> = timeline
            .iter()
            .filter_map(|(_, event)| event.state_key_pair())
            .collect();
        let not_in_timeline = |event: &PduEvent| {
            event
                .state_key_pair()
                .is_none_or(|pair| !in_timeline.contains(&pair))
        };
        if request.use_state_after {
            let state_after = if fresh {
                self.current_state(room_id)?
            } else {
                match self.state_keys_changed(room_id, since, now)? {
                    Some(pairs) => pairs
                        .into_iter()
                        .filter_map(|(kind, key)| self.state_pdu(room_id, &kind, &key).transpose())
                        .collect::<Result<Vec<_>>>()?,
                    None => self.current_state(room_id)?,
                }
            };
            let mut state_after = state_after;
            if !fresh {
                self.lazy_members(room_id, request, &timeline, &mut state_after)?;
            }
            let membership_moved = timeline
                .iter()
                .any(|(_, event)| event.kind == ruma::events::TimelineEventType::RoomMember);
            let summary = if fresh || page.more || membership_moved {
                Some(self.member_summary(room_id, request.user_id)?)
            } else {
                None
            };
            return Ok(JoinedRoom {
                room_id: room_id.to_owned(),
                timeline,
                limited: page.more,
                prev_batch,
                state: Vec::new(),
                summary,
                newly_joined: false,
                state_after: Some(state_after),
            });
        }
        let dropped = if fresh || page.more {
            None
        } else if !request.timeline_may_drop_state {
            Some(BTreeSet::new())
        } else {
            self.state_left_out(room_id, since, now, &timeline)?
        };
        let dropped_known = dropped.is_some();
        let state = match dropped {
            // Without a gap, only state changes the timeline filter left out: a rename the
            // client's filter hides from the timeline must still reach it.
            Some(pairs) => pairs
                .into_iter()
                .filter_map(|(kind, key)| self.state_pdu(room_id, &kind, &key).transpose())
                .collect::<Result<Vec<_>>>()?
                .into_iter()
                .filter(not_in_timeline)
                .collect(),
            // Fresh, after a gap, or too many events to look through: the whole state.
            None => self
                .current_state(room_id)?
                .into_iter()
                .filter(not_in_timeline)
                .collect(),
        };
        let mut state = state;
        if dropped_known {
            self.lazy_members(room_id, request, &timeline, &mut state)?;
        }
        // The summary only changes with membership; clients keep the last one they got, so it is
        // computed (a walk over every member) only when it may have changed.
        let membership_moved = timeline
            .iter()
            .any(|(_, event)| event.kind == ruma::events::TimelineEventType::RoomMember);
        let summary = if fresh || page.more || membership_moved {
            Some(self.member_summary(room_id, request.user_id)?)
        } else {
            None
        };
        Ok(JoinedRoom {
            room_id: room_id.to_owned(),
            timeline,
            limited: page.more,
            prev_batch,
            state,
            summary,
            newly_joined: false,
            state_after: None,
        })
    }

    /// The state keys set by any event of the room in `(since, until]`; `None` when there are
    /// too many events to look through (the caller sends the whole state then).
    fn state_keys_changed(
        &self,
        room_id: &RoomId,
        since: StreamPosition,
        until: StreamPosition,
    ) -> Result<Option<BTreeSet<(String, String)>>> {
        const MAX_LOOKED_THROUGH: usize = 1000;
        let page = self.timeline(
            room_id,
            since,
            until,
            Direction::Forward,
            MAX_LOOKED_THROUGH,
        )?;
        if page.more {
            return Ok(None);
        }
        Ok(Some(
            page.events
                .iter()
                .filter_map(|(_, event)| event.state_key_pair())
                .collect(),
        ))
    }

    /// `state_after` of a left room: the state as of the leave, all of it (`since` `None`) or
    /// the keys that changed after `since`.
    pub(super) fn left_state_after(
        &self,
        room_id: &RoomId,
        leave: &ruma::EventId,
        since: Option<StreamPosition>,
        leave_position: StreamPosition,
    ) -> Result<Vec<PduEvent>> {
        let Some(map) = self.state_after_event(leave)? else {
            // A room this server never followed (an invite that ended): the leave is the state.
            return Ok(self.pdu(leave)?.into_iter().collect());
        };
        let keys = match since {
            Some(since) => self.state_keys_changed(room_id, since, leave_position)?,
            None => None,
        };
        let mut events = Vec::new();
        for (pair, event_id) in map.iter() {
            if keys.as_ref().is_some_and(|keys| !keys.contains(pair)) {
                continue;
            }
            if let Some(event) = self.pdu(event_id)? {
                events.push(event);
            }
        }
        Ok(events)
    }

    /// The state keys of state events in `(since, now]` that are not in `shown` (the filtered
    /// timeline); `None` when there are too many events to look through.
    fn state_left_out(
        &self,
        room_id: &RoomId,
        since: StreamPosition,
        now: StreamPosition,
        shown: &[(u64, PduEvent)],
    ) -> Result<Option<BTreeSet<(String, String)>>> {
        const MAX_LOOKED_THROUGH: usize = 1000;
        let page = self.timeline(room_id, since, now, Direction::Forward, MAX_LOOKED_THROUGH)?;
        if page.more {
            return Ok(None);
        }
        let shown: BTreeSet<&ruma::EventId> =
            shown.iter().map(|(_, event)| &*event.event_id).collect();
        Ok(Some(
            page.events
                .iter()
                .filter(|(_, event)| !shown.contains(&*event.event_id))
                .filter_map(|(_, event)| event.state_key_pair())
                .collect(),
        ))
    }
}
