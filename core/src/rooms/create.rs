//! `createRoom`: the create event, the creator's join, power levels, the preset's rules, initial
//! state, name, topic and invites, in the order the spec gives.

use std::collections::BTreeMap;

use ruma::{
    OwnedRoomAliasId, OwnedRoomId, OwnedUserId, RoomId, RoomVersionId, UserId,
    events::TimelineEventType,
};
use serde_json::{Map, Value as JsonValue, json};

use super::{EventSpec, MemberProfile, RoomInfo, Rooms, SUPPORTED_ROOM_VERSIONS, build::rules_of};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    PrivateChat,
    TrustedPrivateChat,
    PublicChat,
}

/// Everything `POST /createRoom` may ask for, already decoded.
#[derive(Debug, Clone)]
pub struct CreateRoomRequest {
    pub creator: OwnedUserId,
    pub room_version: Option<RoomVersionId>,
    pub preset: Option<Preset>,
    pub public_visibility: bool,
    pub name: Option<String>,
    pub topic: Option<String>,
    pub alias: Option<OwnedRoomAliasId>,
    pub invite: Vec<OwnedUserId>,
    pub is_direct: bool,
    pub creation_content: Map<String, JsonValue>,
    pub initial_state: Vec<(String, String, JsonValue)>,
    pub power_level_content_override: Option<Map<String, JsonValue>>,
    /// The creator's profile, copied into their join event.
    pub creator_displayname: Option<String>,
    pub creator_avatar_url: Option<String>,
    /// Profiles of local invitees, copied into their invite events as Synapse does.
    pub invitee_profiles: std::collections::BTreeMap<OwnedUserId, MemberProfile>,
}

impl Rooms {
    /// Creates a room; returns its id once every initial event is persisted.
    #[tracing::instrument(skip_all, fields(creator = %request.creator))]
    pub async fn create_room(
        &self,
        request: CreateRoomRequest,
        federation: Option<&dyn crate::ports::Federation>,
    ) -> Result<OwnedRoomId> {
        let version = request
            .room_version
            .clone()
            .unwrap_or_else(|| self.default_room_version());
        if !SUPPORTED_ROOM_VERSIONS.contains(&version) {
            return Err(Error::UnsupportedRoomVersion(format!(
                "This server does not support room version {version}"
            )));
        }
        let info = RoomInfo {
            room_version: version.clone(),
            creator: request.creator.clone(),
            forward_extremities: Vec::new(),
            latest_depth: 0,
            state_snapshot: None,
        };
        let rules = rules_of(&info)?;
        let preset = request.preset.unwrap_or(if request.public_visibility {
            Preset::PublicChat
        } else {
            Preset::PrivateChat
        });
        let trusted_invitees = if preset == Preset::TrustedPrivateChat {
            request.invite.clone()
        } else {
            Vec::new()
        };

        // Additional creators a client names (room version 12) must be user ids; they are
        // invited like the `invite` list, as Synapse does.
        let mut invite = request.invite.clone();
        let mut additional_creators: Vec<OwnedUserId> = trusted_invitees.clone();
        if rules.authorization.additional_room_creators
            && let Some(requested) = request.creation_content.get("additional_creators")
        {
            let requested = requested
                .as_array()
                .ok_or_else(|| {
                    Error::InvalidParam("additional_creators must be a list of user ids".into())
                })?
                .iter()
                .map(|user| {
                    user.as_str()
                        .and_then(|user| UserId::parse(user).ok())
                        .ok_or_else(|| {
                            Error::InvalidParam(format!(
                                "additional_creators: {user} is not a user id"
                            ))
                        })
                })
                .collect::<Result<Vec<_>>>()?;
            for user in requested {
                if user != request.creator && !additional_creators.contains(&user) {
                    additional_creators.push(user.clone());
                }
                if user != request.creator && !invite.contains(&user) {
                    invite.push(user);
                }
            }
        }

        // The create event.
        let mut create_content = request.creation_content.clone();
        create_content.insert("room_version".into(), version.as_str().into());
        if !rules.authorization.use_room_create_sender {
            create_content.insert("creator".into(), request.creator.as_str().into());
        }
        if rules.authorization.additional_room_creators && !additional_creators.is_empty() {
            // Synapse makes the invitees of a trusted private chat creators too in v12 rooms,
            // which is how they get the power they had through power levels before.
            create_content.insert(
                "additional_creators".into(),
                additional_creators
                    .iter()
                    .map(|user| user.as_str())
                    .collect::<Vec<_>>()
                    .into(),
            );
        }
        let create_spec = EventSpec::state(
            TimelineEventType::RoomCreate,
            "",
            JsonValue::Object(create_content),
        );
        let room_id = if rules.authorization.room_create_event_id_as_room_id {
            None
        } else {
            Some(RoomId::new_v1(self.server_name()))
        };
        let (create_pdu, create_object) = self.build(
            room_id.as_deref(),
            &info,
            &rules,
            &request.creator,
            &create_spec,
        )?;
        let room_id = create_pdu.room();
        if self.room_info(&room_id)?.is_some() {
            return Err(Error::Internal("room id collision".into()));
        }
        self.authorize(&rules, &create_pdu)?;
        let lock = self.lock(&room_id).await;
        self.persist(&lock, info, &rules, &create_pdu, create_object)
            .await?;

        let creator = &request.creator;
        let mut member = json!({ "membership": "join" });
        if let Some(name) = &request.creator_displayname {
            member["displayname"] = name.clone().into();
        }
        if let Some(avatar) = &request.creator_avatar_url {
            member["avatar_url"] = avatar.clone().into();
        }
        self.append(
            &lock,
            creator,
            EventSpec::state(TimelineEventType::RoomMember, creator.as_str(), member),
        )
        .await?;

        let power_levels = default_power_levels(
            creator,
            &trusted_invitees,
            rules.authorization.explicitly_privilege_room_creators,
            request.power_level_content_override.as_ref(),
        );
        self.append(
            &lock,
            creator,
            EventSpec::state(TimelineEventType::RoomPowerLevels, "", power_levels),
        )
        .await?;

        if let Some(alias) = &request.alias {
            self.append(
                &lock,
                creator,
                EventSpec::state(
                    TimelineEventType::RoomCanonicalAlias,
                    "",
                    json!({ "alias": alias }),
                ),
            )
            .await?;
        }
        let (join_rule, history, guest) = match preset {
            Preset::PrivateChat | Preset::TrustedPrivateChat => ("invite", "shared", "can_join"),
            Preset::PublicChat => ("public", "shared", "forbidden"),
        };
        let overridden = |kind: &str| {
            request
                .initial_state
                .iter()
                .any(|(event_type, key, _)| event_type == kind && key.is_empty())
        };
        for (kind, content) in [
            ("m.room.join_rules", json!({ "join_rule": join_rule })),
            (
                "m.room.history_visibility",
                json!({ "history_visibility": history }),
            ),
            ("m.room.guest_access", json!({ "guest_access": guest })),
        ] {
            if !overridden(kind) {
                self.append(&lock, creator, EventSpec::state(kind, "", content))
                    .await?;
            }
        }
        for (kind, state_key, content) in &request.initial_state {
            self.append(
                &lock,
                creator,
                EventSpec::state(kind.as_str(), state_key.clone(), content.clone()),
            )
            .await?;
        }
        if let Some(name) = &request.name {
            self.append(
                &lock,
                creator,
                EventSpec::state(TimelineEventType::RoomName, "", json!({ "name": name })),
            )
            .await?;
        }
        if let Some(topic) = &request.topic {
            let content = json!({ "topic": topic, "m.topic": { "m.text": [{ "body": topic, "mimetype": "text/plain" }] } });
            self.append(
                &lock,
                creator,
                EventSpec::state(TimelineEventType::RoomTopic, "", content),
            )
            .await?;
        }
        let (local_invitees, remote_invitees): (Vec<_>, Vec<_>) = invite
            .iter()
            .partition(|invitee| invitee.server_name() == self.server_name());
        for invitee in local_invitees {
            let mut content = json!({ "membership": "invite" });
            if let Some(profile) = request.invitee_profiles.get(invitee) {
                if let Some(name) = &profile.displayname {
                    content["displayname"] = name.clone().into();
                }
                if let Some(avatar) = &profile.avatar_url {
                    content["avatar_url"] = avatar.clone().into();
                }
            }
            if request.is_direct {
                content["is_direct"] = true.into();
            }
            self.append(
                &lock,
                creator,
                EventSpec::state(TimelineEventType::RoomMember, invitee.as_str(), content),
            )
            .await?;
        }
        // Users of other servers are invited through their servers, as a separate step (as in
        // Synapse): the room exists even when one of them cannot be reached.
        drop(lock);
        for invitee in remote_invitees {
            if let Err(error) = self
                .invite(
                    federation,
                    &room_id,
                    creator,
                    invitee,
                    &MemberProfile::default(),
                    None,
                    request.is_direct,
                )
                .await
            {
                tracing::info!(%room_id, %invitee, %error, "could not invite a remote user");
            }
        }
        tracing::info!(%room_id, %version, "room created");
        Ok(room_id)
    }
}

/// The spec's default power levels (as Synapse fills them), with `override` merged on top.
fn default_power_levels(
    creator: &UserId,
    trusted: &[OwnedUserId],
    creators_are_implicit: bool,
    overrides: Option<&Map<String, JsonValue>>,
) -> JsonValue {
    let mut users = BTreeMap::new();
    if !creators_are_implicit {
        users.insert(creator.to_string(), JsonValue::from(100));
        for invitee in trusted {
            users.insert(invitee.to_string(), JsonValue::from(100));
        }
    }
    let mut content = json!({
        "users": users,
        "users_default": 0,
        "events": {
            "m.room.name": 50,
            "m.room.power_levels": 100,
            "m.room.history_visibility": 100,
            "m.room.canonical_alias": 50,
            "m.room.avatar": 50,
            // Room version 12 (MSC4289): only creators may upgrade, as Synapse sets it.
            "m.room.tombstone": if creators_are_implicit { 150 } else { 100 },
            "m.room.server_acl": 100,
            "m.room.encryption": 100
        },
        "events_default": 0,
        "state_default": 50,
        "ban": 50,
        "kick": 50,
        "redact": 50,
        "invite": 0,
        "historical": 100,
        "notifications": { "room": 50 }
    });
    if let (Some(overrides), Some(object)) = (overrides, content.as_object_mut()) {
        for (key, value) in overrides {
            object.insert(key.clone(), value.clone());
        }
    }
    content
}
