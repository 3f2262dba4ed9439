//! The public room directory: published rooms with their summaries, most members first.

use ruma::{OwnedRoomId, RoomId};
use serde_json::{Value as JsonValue, json};

use super::{Rooms, aliases::PUBLISHED_ROOMID};
use crate::error::Result;

/// One directory entry, in the shape of the spec's `PublishedRoomsChunk`.
pub struct PublicRoom {
    pub room_id: OwnedRoomId,
    pub joined_members: usize,
    pub summary: JsonValue,
}

/// Which directory a listing reads: rooms published for Matrix, for one bridged network
/// (`third_party_instance_id`), or all of them (`include_all_networks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectoryNetwork<'a> {
    Matrix,
    Instance(&'a str),
    All,
}

impl<'a> DirectoryNetwork<'a> {
    /// The directory a listing request names (Matrix alone unless it names a network).
    pub fn of(network: &'a ruma::directory::RoomNetwork) -> Self {
        match network {
            ruma::directory::RoomNetwork::All => Self::All,
            ruma::directory::RoomNetwork::ThirdParty(instance) => Self::Instance(instance),
            _ => Self::Matrix,
        }
    }
}

/// Rooms per directory page when the caller sets no limit.
const DEFAULT_PAGE: usize = 100;

impl Rooms {
    /// A page of the directory in the spec's `publicRooms` shape. Pagination tokens are offsets
    /// into the ordered list: `p{offset}`.
    pub fn public_rooms_page(
        &self,
        search: Option<&str>,
        network: DirectoryNetwork<'_>,
        limit: Option<u64>,
        since: Option<&str>,
    ) -> Result<JsonValue> {
        let rooms = self.public_rooms(search, network)?;
        let limit = limit
            .map_or(DEFAULT_PAGE, |limit| {
                usize::try_from(limit).unwrap_or(DEFAULT_PAGE)
            })
            .max(1);
        let offset = match since {
            Some(token) => token
                .strip_prefix('p')
                .and_then(|number| number.parse::<usize>().ok())
                .ok_or_else(|| crate::error::Error::InvalidParam("Invalid since token".into()))?,
            None => 0,
        };
        let chunk: Vec<JsonValue> = rooms
            .iter()
            .skip(offset)
            .take(limit)
            .map(|room| room.summary.clone())
            .collect();
        let mut response = json!({ "chunk": chunk, "total_room_count_estimate": rooms.len() });
        if offset + limit < rooms.len() {
            response["next_batch"] = format!("p{}", offset + limit).into();
        }
        if offset > 0 {
            response["prev_batch"] = format!("p{}", offset.saturating_sub(limit)).into();
        }
        Ok(response)
    }

    /// Every published room matching `search` (name, topic or alias, case-insensitive), ordered
    /// by joined members then room id, so pagination by offset is stable.
    pub fn public_rooms(
        &self,
        search: Option<&str>,
        network: DirectoryNetwork<'_>,
    ) -> Result<Vec<PublicRoom>> {
        let search = search
            .map(str::to_lowercase)
            .filter(|term| !term.is_empty());
        let mut rooms = Vec::new();
        for (key, published_in) in self
            .store()
            .scan_prefix(PUBLISHED_ROOMID, b"", usize::MAX)?
        {
            let listed = match network {
                DirectoryNetwork::All => true,
                DirectoryNetwork::Matrix => published_in.is_empty(),
                DirectoryNetwork::Instance(instance) => published_in == instance.as_bytes(),
            };
            if !listed {
                continue;
            }
            let Some(room_id) = String::from_utf8(key)
                .ok()
                .and_then(|id| RoomId::parse(id).ok())
            else {
                continue;
            };
            let room = self.public_room(&room_id)?;
            if let Some(term) = &search {
                let haystack = ["name", "topic", "canonical_alias"]
                    .iter()
                    .filter_map(|field| room.summary.get(*field).and_then(JsonValue::as_str))
                    .map(str::to_lowercase)
                    .collect::<Vec<_>>();
                if !haystack.iter().any(|text| text.contains(term.as_str())) {
                    continue;
                }
            }
            rooms.push(room);
        }
        rooms.sort_by(|a, b| {
            b.joined_members
                .cmp(&a.joined_members)
                .then_with(|| a.room_id.cmp(&b.room_id))
        });
        Ok(rooms)
    }

    pub fn public_room(&self, room_id: &RoomId) -> Result<PublicRoom> {
        let content = |kind: &str| -> Result<JsonValue> {
            Ok(self
                .state_pdu(room_id, kind, "")?
                .map(|event| event.content_json())
                .unwrap_or_default())
        };
        let joined_members = self.joined_members(room_id)?.len();
        let join_rule = content("m.room.join_rules")?
            .get("join_rule")
            .and_then(JsonValue::as_str)
            .unwrap_or("invite")
            .to_owned();
        let mut summary = json!({
            "room_id": room_id,
            "num_joined_members": joined_members,
            "world_readable": content("m.room.history_visibility")?.get("history_visibility").and_then(JsonValue::as_str) == Some("world_readable"),
            "guest_can_join": content("m.room.guest_access")?.get("guest_access").and_then(JsonValue::as_str) == Some("can_join"),
            "join_rule": join_rule,
        });
        for (kind, field, key) in [
            ("m.room.name", "name", "name"),
            ("m.room.topic", "topic", "topic"),
            ("m.room.canonical_alias", "alias", "canonical_alias"),
            ("m.room.avatar", "url", "avatar_url"),
            ("m.room.create", "type", "room_type"),
        ] {
            if let Some(value) = content(kind)?
                .get(field)
                .and_then(JsonValue::as_str)
                .filter(|value| !value.is_empty())
            {
                summary[key] = value.into();
            }
        }
        Ok(PublicRoom {
            room_id: room_id.to_owned(),
            joined_members,
            summary,
        })
    }
}
