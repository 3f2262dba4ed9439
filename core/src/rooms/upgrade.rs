//! Room upgrades (`POST /rooms/{roomId}/upgrade`), as Synapse does them: a new room of the new
//! version whose create event names its predecessor, the old room's important state copied over
//! (power levels included), local aliases and directory listing moved, then a tombstone in the
//! old room and its power levels raised so that only moderators can still speak there.

use ruma::{OwnedRoomId, RoomId, RoomVersionId, UserId};
use serde_json::{Map, Value as JsonValue, json};

use super::{CreateRoomRequest, Preset, Rooms, SUPPORTED_ROOM_VERSIONS, build::rules_of};
use crate::error::{Error, Result};

/// State copied to the new room (with every state key).
const COPIED_STATE: &[&str] = &[
    "m.room.server_acl",
    "m.room.encryption",
    "m.room.name",
    "m.room.avatar",
    "m.room.topic",
    "m.room.guest_access",
    "m.room.history_visibility",
    "m.room.join_rules",
    "m.room.pinned_events",
    "m.space.child",
];

impl Rooms {
    /// The room this one was upgraded from, as its create event names it.
    pub fn predecessor(&self, room_id: &RoomId) -> Result<Option<ruma::OwnedRoomId>> {
        Ok(self
            .state_pdu(room_id, "m.room.create", "")?
            .and_then(|create| {
                create.content_json()["predecessor"]["room_id"]
                    .as_str()
                    .and_then(|id| ruma::OwnedRoomId::try_from(id).ok())
            }))
    }

    /// Replaces `room_id` with a new room of `new_version`; returns the new room's id.
    pub async fn upgrade_room(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        new_version: RoomVersionId,
        federation: Option<&dyn crate::ports::Federation>,
    ) -> Result<OwnedRoomId> {
        if !SUPPORTED_ROOM_VERSIONS.contains(&new_version) {
            return Err(Error::UnsupportedRoomVersion(format!(
                "This server does not support room version {new_version}"
            )));
        }
        self.existing_room(room_id)?;
        if !self.is_joined(room_id, user_id)? {
            return Err(Error::Forbidden("You are not in this room".into()));
        }
        let state_default = self.power_level_for(room_id, "state_default", 50)?;
        let needed = self
            .state_pdu(room_id, "m.room.power_levels", "")?
            .and_then(|levels| levels.content_json()["events"]["m.room.tombstone"].as_i64())
            .unwrap_or(state_default);
        if self.user_power_level(room_id, user_id)? < needed {
            return Err(Error::Forbidden(
                "You do not have permission to upgrade this room".into(),
            ));
        }

        let create = self
            .state_pdu(room_id, "m.room.create", "")?
            .ok_or_else(|| Error::Storage("room without create event".into()))?
            .content_json();
        let mut creation_content = Map::new();
        // The predecessor's `event_id` is optional and deprecated; clients follow the room id.
        creation_content.insert("predecessor".into(), json!({ "room_id": room_id }));
        for key in ["type", "m.federate"] {
            if let Some(value) = create.get(key) {
                creation_content.insert(key.into(), value.clone());
            }
        }
        let mut initial_state = Vec::new();
        for event in self.current_state(room_id)? {
            let kind = event.kind.to_string();
            if COPIED_STATE.contains(&kind.as_str()) {
                let key = event.state_key.clone().unwrap_or_default();
                initial_state.push((kind, key, event.content_json()));
            }
        }
        let new_rules = rules_of(&super::RoomInfo {
            room_version: new_version.clone(),
            creator: user_id.to_owned(),
            forward_extremities: Vec::new(),
            latest_depth: 0,
            state_snapshot: None,
        })?;
        // Additional creators stay creators of the successor (and are invited to it), as in
        // Synapse, when its version has them.
        let additional_creators: Vec<String> = if new_rules.authorization.additional_room_creators {
            create
                .get("additional_creators")
                .and_then(JsonValue::as_array)
                .map(|users| {
                    users
                        .iter()
                        .filter_map(JsonValue::as_str)
                        .filter(|user| *user != user_id.as_str())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        if !additional_creators.is_empty() {
            creation_content.insert("additional_creators".into(), json!(additional_creators));
        }
        let power_levels = self
            .state_pdu(room_id, "m.room.power_levels", "")?
            .map(|levels| levels.content_json())
            .and_then(|levels| levels.as_object().cloned())
            .map(|mut levels| {
                if let Some(users) = levels.get_mut("users").and_then(JsonValue::as_object_mut) {
                    if new_rules.authorization.explicitly_privilege_room_creators {
                        // Creators of such rooms outrank everyone and may not be listed.
                        users.remove(user_id.as_str());
                        for creator in &additional_creators {
                            users.remove(creator);
                        }
                    } else {
                        // The upgrader keeps at least the power the upgrade needed.
                        let level = users.get(user_id.as_str()).and_then(JsonValue::as_i64);
                        if level.is_none_or(|level| level < needed) {
                            users.insert(user_id.to_string(), needed.max(100).into());
                        }
                    }
                }
                levels
            });
        let new_room = self
            .create_room(
                CreateRoomRequest {
                    creator: user_id.to_owned(),
                    room_version: Some(new_version),
                    preset: Some(Preset::PrivateChat),
                    public_visibility: false,
                    name: None,
                    topic: None,
                    alias: None,
                    invite: Vec::new(),
                    is_direct: false,
                    creation_content,
                    initial_state,
                    power_level_content_override: power_levels,
                    creator_displayname: None,
                    creator_avatar_url: None,
                    invitee_profiles: Default::default(),
                },
                federation,
            )
            .await?;
        // The canonical alias follows the local aliases it names.
        self.move_local_aliases(room_id, &new_room).await?;
        if let Some(alias) = self.state_pdu(room_id, "m.room.canonical_alias", "")? {
            let content = alias.content_json();
            if content.as_object().is_some_and(|object| !object.is_empty()) {
                self.send_state(
                    &new_room,
                    user_id,
                    "m.room.canonical_alias",
                    "",
                    content,
                    None,
                )
                .await?;
                self.send_state(
                    room_id,
                    user_id,
                    "m.room.canonical_alias",
                    "",
                    json!({}),
                    None,
                )
                .await?;
            }
        }
        if self.is_published(room_id)? {
            self.set_published(&new_room, true).await?;
            self.set_published(room_id, false).await?;
        }
        self.send_state(
            room_id,
            user_id,
            "m.room.tombstone",
            "",
            json!({ "body": "This room has been replaced", "replacement_room": new_room }),
            None,
        )
        .await?;
        // Only moderators may still speak or invite in the old room.
        if let Some(levels) = self.state_pdu(room_id, "m.room.power_levels", "")? {
            let mut content = levels.content_json();
            let users_default = content["users_default"].as_i64().unwrap_or(0);
            let restricted = 50.max(users_default + 1);
            let mut changed = false;
            for key in ["events_default", "invite"] {
                if content[key].as_i64().unwrap_or(0) < restricted {
                    content[key] = restricted.into();
                    changed = true;
                }
            }
            if changed {
                // Failing here (someone without power to change levels) leaves the upgrade done.
                if let Err(error) = self
                    .send_state(room_id, user_id, "m.room.power_levels", "", content, None)
                    .await
                {
                    tracing::info!(%room_id, %error, "old room's power levels not restricted");
                }
            }
        }
        Ok(new_room)
    }
}
