//! History visibility: which events a user may see, from the room's `m.room.history_visibility`
//! and the user's membership *at each event*, both kept as logs by stream position. The same
//! membership log answers `/members?at=`.

use std::{collections::BTreeMap, ops::Bound};

use ruma::{OwnedUserId, RoomId, UserId};

use super::{Membership, PduEvent, Rooms, state::MembershipRecord};
use crate::{
    error::{Error, Result},
    storage::{compound_key, prefix_upper_bound, split_key},
};

/// room, user, position → membership record (every change, not only the latest).
pub(crate) const ROOMUSERPOSITION_MEMBERSHIP: &str = "roomuserposition_membership";
/// room, position → history visibility set at that position.
pub(crate) const ROOMPOSITION_VISIBILITY: &str = "roomposition_visibility";

/// The spec's four history visibilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryVisibility {
    WorldReadable,
    Shared,
    Invited,
    Joined,
}

impl HistoryVisibility {
    fn parse(value: &str) -> Self {
        match value {
            "world_readable" => Self::WorldReadable,
            "invited" => Self::Invited,
            "joined" => Self::Joined,
            // The spec's default, also for unknown values.
            _ => Self::Shared,
        }
    }
}

impl Rooms {
    /// Whether `server` may see `pdu`, as Synapse's `filter_events_for_server` decides for
    /// `backfill` and `get_missing_events`: from the state at the event (with the event itself),
    /// `world_readable` and `shared` history is visible; `invited` when one of the server's
    /// users is invited or joined then; `joined` when one is joined. Events without a known
    /// state (outliers) count as `shared`.
    pub fn server_may_see(&self, server: &ruma::ServerName, pdu: &PduEvent) -> Result<bool> {
        let Some(map) = self.state_after_event(&pdu.event_id)? else {
            return Ok(true);
        };
        let visibility = match map.get(&("m.room.history_visibility".to_owned(), String::new())) {
            Some(id) => self.pdu(id)?.map_or(HistoryVisibility::Shared, |event| {
                HistoryVisibility::parse(
                    event
                        .content_json()
                        .get("history_visibility")
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or("shared"),
                )
            }),
            None => HistoryVisibility::Shared,
        };
        let allowed: &[&str] = match visibility {
            HistoryVisibility::WorldReadable | HistoryVisibility::Shared => return Ok(true),
            HistoryVisibility::Invited => &["join", "invite"],
            HistoryVisibility::Joined => &["join"],
        };
        for ((kind, state_key), event_id) in map.iter() {
            if kind != "m.room.member"
                || UserId::parse(state_key.as_str())
                    .map_or(true, |user| user.server_name() != server)
            {
                continue;
            }
            if let Some(member) = self.pdu(event_id)?
                && member
                    .content_json()
                    .get("membership")
                    .and_then(serde_json::Value::as_str)
                    .is_some_and(|membership| allowed.contains(&membership))
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The history visibility in force at `position`.
    pub fn visibility_at(&self, room_id: &RoomId, position: u64) -> Result<HistoryVisibility> {
        let start = compound_key(&[room_id.as_bytes(), b""]);
        let end = compound_key(&[room_id.as_bytes(), &position.to_be_bytes()]);
        let rows = self.store().range(
            ROOMPOSITION_VISIBILITY,
            Bound::Included(&start),
            Bound::Included(&end),
            true,
            1,
        )?;
        Ok(rows
            .first()
            .map_or(HistoryVisibility::Shared, |(_, value)| {
                HistoryVisibility::parse(&String::from_utf8_lossy(value))
            }))
    }

    /// A user's membership as of `position` (the last change at or before it).
    pub fn membership_at(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        position: u64,
    ) -> Result<Option<Membership>> {
        let start = compound_key(&[room_id.as_bytes(), user_id.as_bytes(), b""]);
        let end = compound_key(&[
            room_id.as_bytes(),
            user_id.as_bytes(),
            &position.to_be_bytes(),
        ]);
        let rows = self.store().range(
            ROOMUSERPOSITION_MEMBERSHIP,
            Bound::Included(&start),
            Bound::Included(&end),
            true,
            1,
        )?;
        match rows.first() {
            Some((_, value)) => Ok(Some(
                serde_json::from_slice::<MembershipRecord>(value)
                    .map_err(Error::storage)?
                    .membership,
            )),
            None => Ok(None),
        }
    }

    /// Whether `user_id` may see the event at `position`, given what they are now. Events they
    /// could not see stay hidden even after joining, as the visibility rules say.
    pub fn event_visible(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        position: u64,
        current: Option<Membership>,
    ) -> Result<bool> {
        // A user's own membership changes are always theirs to see (their leave, their join).
        if self.membership_changed_at(room_id, user_id, position)? {
            return Ok(true);
        }
        Ok(match self.visibility_at(room_id, position)? {
            HistoryVisibility::WorldReadable => true,
            HistoryVisibility::Shared => {
                current == Some(Membership::Join)
                    || self.membership_at(room_id, user_id, position)? == Some(Membership::Join)
            }
            HistoryVisibility::Invited => matches!(
                self.membership_at(room_id, user_id, position)?,
                Some(Membership::Join | Membership::Invite)
            ),
            HistoryVisibility::Joined => {
                self.membership_at(room_id, user_id, position)? == Some(Membership::Join)
            }
        })
    }

    /// Whether the user's membership changed exactly at `position`.
    fn membership_changed_at(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        position: u64,
    ) -> Result<bool> {
        let key = compound_key(&[
            room_id.as_bytes(),
            user_id.as_bytes(),
            &position.to_be_bytes(),
        ]);
        Ok(self
            .store()
            .get(ROOMUSERPOSITION_MEMBERSHIP, &key)?
            .is_some())
    }

    /// Member events as of `position`: each user's membership event in force then.
    pub fn members_at(&self, room_id: &RoomId, position: u64) -> Result<Vec<PduEvent>> {
        let prefix = compound_key(&[room_id.as_bytes(), b""]);
        let end = prefix_upper_bound(&prefix);
        let rows = self.store().range(
            ROOMUSERPOSITION_MEMBERSHIP,
            Bound::Included(&prefix),
            end.as_deref().map_or(Bound::Unbounded, Bound::Excluded),
            false,
            usize::MAX,
        )?;
        let mut latest: BTreeMap<OwnedUserId, MembershipRecord> = BTreeMap::new();
        for (key, value) in rows {
            let parts = split_key(&key);
            let Some(user) = parts
                .get(1)
                .and_then(|part| std::str::from_utf8(part).ok())
                .and_then(|id| UserId::parse(id).ok())
            else {
                continue;
            };
            let record: MembershipRecord =
                serde_json::from_slice(&value).map_err(Error::storage)?;
            if record.position <= position {
                latest.insert(user, record);
            }
        }
        latest
            .values()
            .filter_map(|record| self.pdu(&record.event_id).transpose())
            .collect()
    }
}

impl Rooms {
    /// Whether the user joined the room at or after `from_ts` (milliseconds), whatever they
    /// are now.
    pub fn joined_since(&self, room_id: &RoomId, user_id: &UserId, from_ts: u64) -> Result<bool> {
        let prefix = compound_key(&[room_id.as_bytes(), user_id.as_bytes(), b""]);
        for (_, value) in
            self.store()
                .scan_prefix(ROOMUSERPOSITION_MEMBERSHIP, &prefix, usize::MAX)?
        {
            let record: MembershipRecord =
                serde_json::from_slice(&value).map_err(Error::storage)?;
            if record.membership == Membership::Join
                && self
                    .pdu(&record.event_id)?
                    .is_some_and(|event| u64::from(event.origin_server_ts.0) >= from_ts)
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Every room the user has a membership in, with it (forgotten rooms left out).
    pub fn memberships_of(&self, user_id: &UserId) -> Result<Vec<(ruma::OwnedRoomId, Membership)>> {
        Ok(self
            .user_rooms(user_id)?
            .into_iter()
            .map(|(room_id, record)| (room_id, record.membership))
            .collect())
    }
}
