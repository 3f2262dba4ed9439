//! Space hierarchies: a room's summary with its `m.space.child` links, as users (client
//! `/hierarchy`) and other servers (federation `/hierarchy`) may see it.

use ruma::{OwnedRoomId, OwnedServerName, RoomId, ServerName, UserId};
use serde_json::{Value as JsonValue, json};

use super::{Membership, Rooms};
use crate::error::Result;

/// Who is looking at a room's summary.
#[derive(Debug, Clone, Copy)]
pub enum Viewer<'a> {
    User(&'a UserId),
    Server(&'a ServerName),
    /// Someone without an access token: public rooms only.
    Anonymous,
    /// A server administrator (Synapse's admin hierarchy): every room this server knows.
    Administrator,
}

/// A child of a space: its id and the servers to reach it through.
#[derive(Debug, Clone)]
pub struct SpaceChild {
    pub room_id: OwnedRoomId,
    pub via: Vec<OwnedServerName>,
    pub suggested: bool,
}

impl Rooms {
    /// The space's children (`m.space.child` state events with a non-empty `via`), ordered by
    /// their `order` field, then room id, as the spec asks.
    pub fn space_children(
        &self,
        room_id: &RoomId,
        suggested_only: bool,
    ) -> Result<Vec<SpaceChild>> {
        let mut children = Vec::new();
        let is_space = self
            .state_pdu(room_id, "m.room.create", "")?
            .is_some_and(|create| {
                create
                    .content_json()
                    .get("type")
                    .and_then(JsonValue::as_str)
                    == Some("m.space")
            });
        if !is_space {
            return Ok(Vec::new());
        }
        for event in self.current_state(room_id)? {
            if event.kind.to_string() != "m.space.child" {
                continue;
            }
            let content = event.content_json();
            let via: Vec<OwnedServerName> = content
                .get("via")
                .and_then(JsonValue::as_array)
                .into_iter()
                .flatten()
                .filter_map(|server| server.as_str())
                .filter_map(|server| OwnedServerName::try_from(server).ok())
                .collect();
            let Some(child) = event
                .state_key
                .as_deref()
                .and_then(|key| RoomId::parse(key).ok())
            else {
                continue;
            };
            let suggested = content
                .get("suggested")
                .and_then(JsonValue::as_bool)
                .unwrap_or(false);
            if via.is_empty() || (suggested_only && !suggested) {
                continue;
            }
            // The spec's ordering: a valid `order` (at most 50 printable ASCII characters)
            // first, lexicographically; then the link's `origin_server_ts`; then the room id.
            let order = content
                .get("order")
                .and_then(JsonValue::as_str)
                .filter(|order| {
                    order.len() <= 50 && order.bytes().all(|byte| (0x20..=0x7e).contains(&byte))
                })
                .map(str::to_owned);
            children.push((
                (order.is_none(), order, event.origin_server_ts),
                SpaceChild {
                    room_id: child,
                    via,
                    suggested,
                },
            ));
        }
        children.sort_by(|(a, x), (b, y)| a.cmp(b).then_with(|| x.room_id.cmp(&y.room_id)));
        Ok(children.into_iter().map(|(_, child)| child).collect())
    }

    /// Whether `viewer` may see the room's summary: members (users, or servers with a member),
    /// and anyone for rooms that are public, knockable or world-readable.
    pub fn summary_visible(&self, room_id: &RoomId, viewer: Viewer<'_>) -> Result<bool> {
        if matches!(viewer, Viewer::Administrator) {
            return Ok(true);
        }
        let join_rules = self
            .state_pdu(room_id, "m.room.join_rules", "")?
            .map(|event| event.content_json());
        let join_rule = join_rules
            .as_ref()
            .and_then(|content| content.get("join_rule"))
            .and_then(JsonValue::as_str)
            .unwrap_or("invite")
            .to_owned();
        let world_readable = self
            .state_pdu(room_id, "m.room.history_visibility", "")?
            .is_some_and(|event| {
                event
                    .content_json()
                    .get("history_visibility")
                    .and_then(JsonValue::as_str)
                    == Some("world_readable")
            });
        if world_readable || matches!(join_rule.as_str(), "public" | "knock" | "knock_restricted") {
            return Ok(true);
        }
        // A restricted room shows to those who could join it: members of a room its rule
        // allows, as Synapse decides [Complement TestClientSpacesSummary].
        let allowed_rooms: Vec<ruma::OwnedRoomId> = if join_rule == "restricted" {
            join_rules
                .as_ref()
                .and_then(|content| content.get("allow"))
                .and_then(JsonValue::as_array)
                .into_iter()
                .flatten()
                .filter_map(|condition| condition.get("room_id")?.as_str())
                .filter_map(|id| RoomId::parse(id).ok())
                .collect()
        } else {
            Vec::new()
        };
        match viewer {
            Viewer::User(user) => {
                if matches!(
                    self.membership(room_id, user)?,
                    Some(Membership::Join | Membership::Invite)
                ) {
                    return Ok(true);
                }
                for allowed in &allowed_rooms {
                    if self.is_joined(allowed, user)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Viewer::Server(server) => {
                if self.server_in_room(room_id, server)? {
                    return Ok(true);
                }
                for allowed in &allowed_rooms {
                    if self.server_in_room(allowed, server)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Viewer::Anonymous => Ok(false),
            Viewer::Administrator => Ok(true),
        }
    }

    /// The room's summary in the spec's `SpaceHierarchyRoomsChunk` shape (with
    /// `children_state`), or `None` when the room is unknown here or hidden from `viewer`.
    pub fn hierarchy_summary(
        &self,
        room_id: &RoomId,
        viewer: Viewer<'_>,
    ) -> Result<Option<JsonValue>> {
        if self.room_info(room_id)?.is_none() || !self.summary_visible(room_id, viewer)? {
            return Ok(None);
        }
        let mut summary = self.public_room(room_id)?.summary;
        let mut children_state = Vec::new();
        // Only spaces have children: the links of another room are not followed, as in
        // Synapse (Complement's R2 -> R5).
        let is_space = summary.get("room_type").and_then(JsonValue::as_str) == Some("m.space");
        for event in self.current_state(room_id)? {
            if is_space
                && event.kind.to_string() == "m.space.child"
                && event
                    .content_json()
                    .get("via")
                    .and_then(JsonValue::as_array)
                    .is_some_and(|via| !via.is_empty())
            {
                children_state.push(json!({
                    "type": "m.space.child",
                    "state_key": event.state_key,
                    "sender": event.sender,
                    "content": event.content_json(),
                    "origin_server_ts": event.origin_server_ts,
                }));
            }
        }
        summary["children_state"] = children_state.into();
        if let Some(rules) = self.state_pdu(room_id, "m.room.join_rules", "")? {
            let allowed: Vec<JsonValue> = rules
                .content_json()
                .get("allow")
                .and_then(JsonValue::as_array)
                .into_iter()
                .flatten()
                .filter_map(|condition| condition.get("room_id").cloned())
                .collect();
            if !allowed.is_empty() {
                summary["allowed_room_ids"] = allowed.into();
            }
        }
        self.add_version_and_encryption(room_id, &mut summary)?;
        Ok(Some(summary))
    }

    /// The fields spec v1.15 (MSC3266) adds to a room's summary in `/hierarchy` and
    /// `/room_summary`: its version, and its encryption algorithm when it has one.
    pub fn add_version_and_encryption(
        &self,
        room_id: &RoomId,
        summary: &mut JsonValue,
    ) -> Result<()> {
        if let Some(encryption) = self.state_pdu(room_id, "m.room.encryption", "")? {
            summary["encryption"] = encryption.content_json()["algorithm"].clone();
        }
        summary["room_version"] = self.existing_room(room_id)?.room_version.as_str().into();
        Ok(())
    }
}
