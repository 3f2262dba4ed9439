//! The rooms this server knows, as an administrator sees them: every room with its name,
//! members and the state that says how it is run.

use ruma::{OwnedRoomId, RoomId};
use serde_json::Value as JsonValue;

use super::{Rooms, aliases::PUBLISHED_ROOMID, state::ROOMID_INFO};
use crate::error::{Error, Result};

/// One room, for the administrator's list and details (Synapse's admin room fields).
#[derive(Debug, Clone)]
pub struct RoomOverview {
    pub room_id: OwnedRoomId,
    pub name: Option<String>,
    pub topic: Option<String>,
    pub avatar: Option<String>,
    pub canonical_alias: Option<String>,
    pub joined_members: usize,
    pub joined_local_members: usize,
    pub version: String,
    pub creator: String,
    /// The encryption algorithm, if the room is encrypted.
    pub encryption: Option<String>,
    /// Whether other servers may join (`m.federate` of the create event).
    pub federatable: bool,
    /// Whether the room is published in this server's directory.
    pub public: bool,
    pub join_rules: Option<String>,
    pub guest_access: Option<String>,
    pub history_visibility: Option<String>,
    pub state_events: usize,
    pub room_type: Option<String>,
    /// The room an upgrade replaced this one with (`m.room.tombstone`).
    pub replacement_room: Option<String>,
    pub tombstoned: bool,
    /// Local members joined now.
    pub local_members: Vec<ruma::OwnedUserId>,
}

impl Rooms {
    /// Every room this server holds state of (joined now or before).
    pub fn room_ids(&self) -> Result<Vec<OwnedRoomId>> {
        Ok(self
            .store()
            .scan_prefix(ROOMID_INFO, b"", usize::MAX)?
            .into_iter()
            .filter_map(|(key, _)| {
                String::from_utf8(key)
                    .ok()
                    .and_then(|id| RoomId::parse(id).ok())
            })
            .collect())
    }

    /// The overview of a room this server knows.
    pub fn room_overview(&self, room_id: &RoomId) -> Result<RoomOverview> {
        let info = self
            .room_info(room_id)?
            .ok_or_else(|| Error::NotFound("Room not found".into()))?;
        let state = self.current_state(room_id)?;
        let content = |kind: &str| -> Option<JsonValue> {
            state
                .iter()
                .find(|event| {
                    event.kind.to_string() == kind && event.state_key.as_deref() == Some("")
                })
                .map(|event| event.content_json())
        };
        let text = |kind: &str, field: &str| -> Option<String> {
            content(kind)
                .and_then(|content| {
                    content
                        .get(field)
                        .and_then(JsonValue::as_str)
                        .map(str::to_owned)
                })
                .filter(|text| !text.is_empty())
        };
        let create = content("m.room.create").unwrap_or_default();
        let joined = self.joined_members(room_id)?;
        let local_members: Vec<ruma::OwnedUserId> = joined
            .iter()
            .filter_map(|member| {
                member
                    .state_key
                    .as_deref()
                    .and_then(|key| ruma::UserId::parse(key).ok())
            })
            .filter(|user| user.server_name() == self.server_name())
            .collect();
        let local = local_members.len();
        Ok(RoomOverview {
            room_id: room_id.to_owned(),
            name: text("m.room.name", "name"),
            topic: text("m.room.topic", "topic"),
            avatar: text("m.room.avatar", "url"),
            canonical_alias: text("m.room.canonical_alias", "alias"),
            joined_members: joined.len(),
            joined_local_members: local,
            version: info.room_version.to_string(),
            creator: info.creator.to_string(),
            encryption: text("m.room.encryption", "algorithm"),
            federatable: create
                .get("m.federate")
                .and_then(JsonValue::as_bool)
                .unwrap_or(true),
            public: self
                .store()
                .get(PUBLISHED_ROOMID, room_id.as_bytes())?
                .is_some(),
            join_rules: text("m.room.join_rules", "join_rule"),
            guest_access: text("m.room.guest_access", "guest_access"),
            history_visibility: text("m.room.history_visibility", "history_visibility"),
            state_events: state.len(),
            room_type: create
                .get("type")
                .and_then(JsonValue::as_str)
                .map(str::to_owned),
            replacement_room: text("m.room.tombstone", "replacement_room"),
            tombstoned: content("m.room.tombstone").is_some(),
            local_members,
        })
    }
}

impl Rooms {
    /// The bytes of stored events per room (Synapse's `estimated_size` of its statistics),
    /// largest first: one pass over every stored event.
    pub fn room_sizes(&self) -> Result<Vec<(OwnedRoomId, u64)>> {
        #[derive(serde::Deserialize)]
        struct InRoom {
            room_id: Option<OwnedRoomId>,
        }
        let mut sizes: std::collections::HashMap<OwnedRoomId, u64> = Default::default();
        for (_, value) in self
            .store()
            .scan_prefix(super::state::EVENTID_PDU, b"", usize::MAX)?
        {
            if let Ok(InRoom {
                room_id: Some(room_id),
            }) = serde_json::from_slice(&value)
            {
                *sizes.entry(room_id).or_default() += value.len() as u64;
            }
        }
        let mut sizes: Vec<_> = sizes.into_iter().collect();
        sizes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(sizes)
    }
}
