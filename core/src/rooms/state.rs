//! Current room state and the membership indexes derived from it.

use ruma::{EventId, OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, RoomVersionId, UserId};
use serde::{Deserialize, Serialize};

use super::{PduEvent, Rooms};
use crate::{
    error::{Error, Result},
    storage::{compound_key, split_key},
};

/// State event → the state event it replaced, for `unsigned.prev_content`.
pub(crate) const EVENTID_REPLACESSTATE: &str = "eventid_replacesstate";

pub(crate) const EVENTID_PDU: &str = "eventid_pdu";
pub(crate) const EVENTID_POSITION: &str = "eventid_position";
pub(crate) const ROOMSTATE_EVENTID: &str = "roomtypestatekey_eventid";
pub(crate) const ROOMID_INFO: &str = "roomid_info";
pub(crate) const USERROOM_MEMBERSHIP: &str = "useridroomid_membership";

/// What the store keeps about a room as a whole.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoomInfo {
    pub room_version: RoomVersionId,
    pub creator: OwnedUserId,
    /// The latest events, the `prev_events` of the next one.
    pub forward_extremities: Vec<OwnedEventId>,
    pub latest_depth: u64,
    /// Snapshot of the current state (absent in rooms stored before snapshots existed).
    #[serde(default)]
    pub state_snapshot: Option<u64>,
}

/// A user's membership in a room, with the stream position of its last change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Membership {
    Join,
    Invite,
    Leave,
    Ban,
    Knock,
}

impl Membership {
    pub fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "join" => Self::Join,
            "invite" => Self::Invite,
            "leave" => Self::Leave,
            "ban" => Self::Ban,
            "knock" => Self::Knock,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Join => "join",
            Self::Invite => "invite",
            Self::Leave => "leave",
            Self::Ban => "ban",
            Self::Knock => "knock",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MembershipRecord {
    pub membership: Membership,
    pub position: u64,
    pub event_id: OwnedEventId,
    /// Set when the user forgot the room: it leaves their sync for good.
    #[serde(default)]
    pub forgotten: bool,
}

pub(crate) fn state_key(room_id: &RoomId, event_type: &str, state_key: &str) -> Vec<u8> {
    compound_key(&[
        room_id.as_bytes(),
        event_type.as_bytes(),
        state_key.as_bytes(),
    ])
}

impl Rooms {
    pub fn room_info(&self, room_id: &RoomId) -> Result<Option<RoomInfo>> {
        self.store().get_json(ROOMID_INFO, room_id.as_bytes())
    }

    /// The room's info, or `NotFound`.
    pub fn existing_room(&self, room_id: &RoomId) -> Result<RoomInfo> {
        self.room_info(room_id)?
            .ok_or_else(|| Error::NotFound("Unknown room".into()))
    }

    pub fn pdu(&self, event_id: &EventId) -> Result<Option<PduEvent>> {
        match self.store().get(EVENTID_PDU, event_id.as_bytes())? {
            Some(bytes) => Ok(Some(PduEvent::from_json_bytes(
                event_id.to_owned(),
                &bytes,
            )?)),
            None => Ok(None),
        }
    }

    /// The stored PDU as JSON (federation format, with signatures).
    pub fn pdu_json(&self, event_id: &EventId) -> Result<Option<serde_json::Value>> {
        self.store().get_json(EVENTID_PDU, event_id.as_bytes())
    }

    pub fn event_position(&self, event_id: &EventId) -> Result<Option<u64>> {
        Ok(self
            .store()
            .get(EVENTID_POSITION, event_id.as_bytes())?
            .and_then(|bytes| bytes.as_slice().try_into().ok().map(u64::from_be_bytes)))
    }

    pub fn state_event_id(
        &self,
        room_id: &RoomId,
        event_type: &str,
        key: &str,
    ) -> Result<Option<OwnedEventId>> {
        Ok(self
            .store()
            .get(ROOMSTATE_EVENTID, &state_key(room_id, event_type, key))?
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|id| EventId::parse(id).ok()))
    }

    /// The current state event of `(event_type, key)`.
    pub fn state_pdu(
        &self,
        room_id: &RoomId,
        event_type: &str,
        key: &str,
    ) -> Result<Option<PduEvent>> {
        match self.state_event_id(room_id, event_type, key)? {
            Some(event_id) => self.pdu(&event_id),
            None => Ok(None),
        }
    }

    /// The whole current state of a room.
    pub fn current_state(&self, room_id: &RoomId) -> Result<Vec<PduEvent>> {
        self.state_with_prefix(&compound_key(&[room_id.as_bytes(), b""]))
    }

    /// Current state events of one type (every state key).
    pub fn state_of_type(&self, room_id: &RoomId, event_type: &str) -> Result<Vec<PduEvent>> {
        self.state_with_prefix(&compound_key(&[
            room_id.as_bytes(),
            event_type.as_bytes(),
            b"",
        ]))
    }

    /// Current `m.room.member` events of a room.
    pub fn member_events(&self, room_id: &RoomId) -> Result<Vec<PduEvent>> {
        self.state_with_prefix(&compound_key(&[room_id.as_bytes(), b"m.room.member", b""]))
    }

    fn state_with_prefix(&self, prefix: &[u8]) -> Result<Vec<PduEvent>> {
        self.store()
            .scan_prefix(ROOMSTATE_EVENTID, prefix, usize::MAX)?
            .into_iter()
            .map(|(_, value)| {
                let event_id = String::from_utf8(value)
                    .ok()
                    .and_then(|id| EventId::parse(id).ok())
                    .ok_or_else(|| Error::Storage("bad state index".into()))?;
                self.pdu(&event_id)?
                    .ok_or_else(|| Error::Storage(format!("state event {event_id} is missing")))
            })
            .collect()
    }

    pub(crate) fn membership_record(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
    ) -> Result<Option<MembershipRecord>> {
        self.store().get_json(
            USERROOM_MEMBERSHIP,
            &compound_key(&[user_id.as_bytes(), room_id.as_bytes()]),
        )
    }

    /// A user's current membership in a room.
    pub fn membership(&self, room_id: &RoomId, user_id: &UserId) -> Result<Option<Membership>> {
        Ok(self
            .membership_record(room_id, user_id)?
            .map(|record| record.membership))
    }

    pub fn is_joined(&self, room_id: &RoomId, user_id: &UserId) -> Result<bool> {
        Ok(self.membership(room_id, user_id)? == Some(Membership::Join))
    }

    /// Rooms of a user with their membership, forgotten rooms left out.
    pub(crate) fn user_rooms(
        &self,
        user_id: &UserId,
    ) -> Result<Vec<(OwnedRoomId, MembershipRecord)>> {
        let prefix = compound_key(&[user_id.as_bytes(), b""]);
        self.store()
            .scan_prefix(USERROOM_MEMBERSHIP, &prefix, usize::MAX)?
            .into_iter()
            .filter_map(|(key, value)| {
                let parts = split_key(&key);
                let room_id = parts
                    .get(1)
                    .and_then(|part| std::str::from_utf8(part).ok())
                    .and_then(|id| RoomId::parse(id).ok());
                let record = serde_json::from_slice::<MembershipRecord>(&value).ok();
                match (room_id, record) {
                    (Some(room_id), Some(record)) if !record.forgotten => {
                        Some(Ok((room_id, record)))
                    }
                    (Some(_), Some(_)) => None,
                    _ => Some(Err(Error::Storage("bad membership index".into()))),
                }
            })
            .collect()
    }

    /// Rooms the user has joined.
    pub fn joined_rooms(&self, user_id: &UserId) -> Result<Vec<OwnedRoomId>> {
        Ok(self
            .user_rooms(user_id)?
            .into_iter()
            .filter(|(_, record)| record.membership == Membership::Join)
            .map(|(room, _)| room)
            .collect())
    }

    /// Rooms the user is invited to (in rooms this server follows).
    pub fn invited_rooms(&self, user_id: &UserId) -> Result<Vec<OwnedRoomId>> {
        Ok(self
            .user_rooms(user_id)?
            .into_iter()
            .filter(|(_, record)| record.membership == Membership::Invite)
            .map(|(room, _)| room)
            .collect())
    }

    /// Joined members of a room.
    pub fn joined_members(&self, room_id: &RoomId) -> Result<Vec<PduEvent>> {
        Ok(self
            .member_events(room_id)?
            .into_iter()
            .filter(|event| {
                event
                    .content_json()
                    .get("membership")
                    .and_then(|m| m.as_str())
                    == Some("join")
            })
            .collect())
    }
}

impl Rooms {
    /// The state event `event_id` replaced, if any.
    pub fn replaced_state(&self, event_id: &EventId) -> Result<Option<PduEvent>> {
        let Some(previous) = self
            .store()
            .get(EVENTID_REPLACESSTATE, event_id.as_bytes())?
        else {
            return Ok(None);
        };
        match String::from_utf8(previous)
            .ok()
            .and_then(|id| EventId::parse(id).ok())
        {
            Some(previous) => self.pdu(&previous),
            None => Ok(None),
        }
    }
}

impl Rooms {
    /// Rooms the user is or was a member of (joined, left or banned; forgotten ones left out).
    pub fn rooms_ever_joined(&self, user_id: &UserId) -> Result<Vec<OwnedRoomId>> {
        Ok(self
            .user_rooms(user_id)?
            .into_iter()
            .filter(|(_, record)| {
                matches!(
                    record.membership,
                    Membership::Join | Membership::Leave | Membership::Ban
                )
            })
            .map(|(room, _)| room)
            .collect())
    }
}

impl Rooms {
    /// Drops every forward extremity of the room but the newest (Synapse's admin remedy for a
    /// room slowed by too many); returns how many went.
    pub async fn drop_extra_forward_extremities(&self, room_id: &RoomId) -> Result<usize> {
        let _lock = self.lock(room_id).await;
        let Some(mut info) = self.room_info(room_id)? else {
            return Err(Error::NotFound("Room not found".into()));
        };
        if info.forward_extremities.len() <= 1 {
            return Ok(0);
        }
        let mut newest = None;
        for event_id in &info.forward_extremities {
            let position = self.event_position(event_id)?.unwrap_or(0);
            if newest.as_ref().is_none_or(|(best, _)| position > *best) {
                newest = Some((position, event_id.clone()));
            }
        }
        let dropped = info.forward_extremities.len() - 1;
        info.forward_extremities = newest.map(|(_, id)| id).into_iter().collect();
        let mut batch = crate::storage::WriteBatch::new();
        batch.put_json(ROOMID_INFO, room_id.as_bytes().to_vec(), &info);
        self.store().commit(batch).await?;
        Ok(dropped)
    }
}
