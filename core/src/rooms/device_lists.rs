//! Which users' device lists a syncing user must (re)learn or may forget, from the membership
//! changes in their rooms: someone who now shares a room with them is `changed` (their client
//! must fetch that user's devices to encrypt for them), someone who no longer shares any room
//! is `left`. Device and key changes themselves come from the stream's `DeviceKeys` items.

use std::collections::BTreeSet;

use ruma::{OwnedRoomId, OwnedUserId, UserId, events::TimelineEventType};
use serde_json::Value as JsonValue;

use super::Rooms;
use crate::{error::Result, stream::StreamPosition};

/// The device-list part of a sync response.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DeviceListChanges {
    pub changed: BTreeSet<OwnedUserId>,
    pub left: BTreeSet<OwnedUserId>,
}

impl Rooms {
    /// Turns the users whose keys changed and the room events after `since` into the sync
    /// response's `device_lists` for `user_id`.
    pub fn device_list_changes(
        &self,
        user_id: &UserId,
        key_changes: BTreeSet<OwnedUserId>,
        room_events: &[(StreamPosition, OwnedRoomId)],
    ) -> Result<DeviceListChanges> {
        let mut newly_shared = key_changes;
        let mut maybe_left = BTreeSet::new();
        for (position, room_id) in room_events {
            // Only rooms the user is or was in say anything about whom they share rooms with.
            if self.membership_record(room_id, user_id)?.is_none() {
                continue;
            }
            let Some(pdu) = self.pdu_at_position(room_id, *position)? else {
                continue;
            };
            if pdu.kind != TimelineEventType::RoomMember {
                continue;
            }
            let Some(target) = pdu
                .state_key
                .as_deref()
                .and_then(|key| UserId::parse(key).ok())
            else {
                continue;
            };
            let membership = pdu
                .content_json()
                .get("membership")
                .and_then(JsonValue::as_str)
                .map(str::to_owned);
            let joined = membership.as_deref() == Some("join");
            let gone = matches!(membership.as_deref(), Some("leave" | "ban"));
            if target == user_id {
                // The user joined or left: everyone in that room is newly shared or maybe gone.
                let members = self.joined_member_ids(room_id)?;
                if joined {
                    newly_shared.extend(members);
                } else if gone {
                    maybe_left.extend(members);
                }
            } else if joined {
                newly_shared.insert(target);
            } else if gone {
                maybe_left.insert(target);
            }
        }
        maybe_left.remove(user_id);
        let still_shared = self.users_sharing_a_room(user_id, maybe_left.clone())?;
        let left: BTreeSet<OwnedUserId> = maybe_left.difference(&still_shared).cloned().collect();
        let changed = self
            .users_sharing_a_room(user_id, newly_shared)?
            .into_iter()
            .filter(|changed_user| !left.contains(changed_user))
            .collect();
        Ok(DeviceListChanges { changed, left })
    }

    fn joined_member_ids(&self, room_id: &ruma::RoomId) -> Result<Vec<OwnedUserId>> {
        Ok(self
            .joined_members(room_id)?
            .iter()
            .filter_map(|member| UserId::parse(member.state_key.as_deref()?).ok())
            .collect())
    }
}
