//! Membership changes of local users in local rooms: join, invite, leave, kick, ban, unban,
//! forget. The room version's authorization rules decide what is allowed.

use ruma::{RoomId, UserId, events::TimelineEventType};
use serde_json::Value as JsonValue;

use super::{EventSpec, Membership, PduEvent, Rooms, state::USERROOM_MEMBERSHIP};
use crate::{
    error::{Error, Result},
    storage::{WriteBatch, compound_key},
};

pub use crate::ports::MemberProfile;

/// Keys of a join body that are the server's to set, never copied from the client.
pub const SERVER_MEMBER_KEYS: &[&str] = &[
    "membership",
    "join_authorised_via_users_server",
    "third_party_signed",
    "third_party_invite",
    "via",
];

fn member_content(
    membership: Membership,
    profile: &MemberProfile,
    reason: Option<&str>,
) -> JsonValue {
    let mut content = JsonValue::Object(
        profile
            .extra
            .iter()
            .filter(|(key, _)| !SERVER_MEMBER_KEYS.contains(&key.as_str()))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect(),
    );
    content["membership"] = membership.as_str().into();
    if let Some(name) = &profile.displayname {
        content["displayname"] = name.clone().into();
    }
    if let Some(avatar) = &profile.avatar_url {
        content["avatar_url"] = avatar.clone().into();
    }
    if let Some(reason) = reason {
        content["reason"] = reason.into();
    }
    content
}

impl Rooms {
    async fn set_membership(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        target: &UserId,
        content: JsonValue,
    ) -> Result<PduEvent> {
        self.existing_room(room_id)?;
        let lock = self.lock(room_id).await;
        self.append(
            &lock,
            sender,
            EventSpec::state(TimelineEventType::RoomMember, target.as_str(), content),
        )
        .await
    }

    /// Joins a local room. Joining again while joined changes nothing, as in Synapse.
    pub async fn join(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        profile: &MemberProfile,
        reason: Option<&str>,
    ) -> Result<()> {
        if self.is_joined(room_id, user_id)? {
            return Ok(());
        }
        let mut content = member_content(Membership::Join, profile, reason);
        if let Some(authoriser) = self.restricted_join_authoriser(room_id, user_id)? {
            content["join_authorised_via_users_server"] = authoriser.as_str().into();
        }
        self.set_membership(room_id, user_id, user_id, content)
            .await?;
        Ok(())
    }

    /// Sends a new join event with the user's new profile into every room they are joined to, as
    /// Synapse does when a display name or avatar changes (the spec says servers should), so
    /// that others see the change and the user directory follows. A room where the event is
    /// refused (power levels, a server that left) is skipped and logged; the others still get
    /// theirs. Returns how many rooms were updated.
    #[tracing::instrument(skip_all, fields(%user_id))]
    pub async fn update_member_profile(
        &self,
        user_id: &UserId,
        profile: &MemberProfile,
    ) -> Result<usize> {
        let mut updated = 0;
        for room_id in self.joined_rooms(user_id)? {
            let Some(current) = self.state_pdu(&room_id, "m.room.member", user_id.as_str())? else {
                continue;
            };
            let mut content = current.content_json();
            if content["membership"] != "join" {
                continue;
            }
            for (field, value) in [
                ("displayname", &profile.displayname),
                ("avatar_url", &profile.avatar_url),
            ] {
                match value {
                    Some(value) => content[field] = value.clone().into(),
                    None => {
                        if let Some(fields) = content.as_object_mut() {
                            fields.remove(field);
                        }
                    }
                }
            }
            // Not a new authorisation: the join it replaces was authorised.
            if let Some(fields) = content.as_object_mut() {
                fields.remove("join_authorised_via_users_server");
            }
            if content == current.content_json() {
                continue;
            }
            match self
                .set_membership(&room_id, user_id, user_id, content)
                .await
            {
                Ok(_) => updated += 1,
                Err(error) => {
                    tracing::warn!(%room_id, %error, "profile change not sent into a room");
                }
            }
        }
        Ok(updated)
    }

    /// A member event a client sends as room state (`PUT /state/m.room.member/{userId}`), with
    /// its own content kept: authorised by the room version's rules like any event, as Synapse
    /// routes it through its membership handler [Complement TestBannedUserCannotSendJoin]. A
    /// first join into a restricted room names its authoriser; an invite of a user of another
    /// server goes through that server, as any invite.
    pub async fn send_member_state(
        &self,
        federation: Option<&dyn crate::ports::Federation>,
        room_id: &RoomId,
        sender: &UserId,
        target: &UserId,
        mut content: JsonValue,
    ) -> Result<ruma::OwnedEventId> {
        self.existing_room(room_id)?;
        let membership = content["membership"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        match membership.as_str() {
            "join" | "knock" if sender != target => {
                return Err(Error::Forbidden(format!(
                    "Only {target} can {membership} for themselves"
                )));
            }
            "join" if !self.is_joined(room_id, sender)? => {
                if let Some(authoriser) = self.restricted_join_authoriser(room_id, sender)? {
                    content["join_authorised_via_users_server"] = authoriser.as_str().into();
                }
            }
            "invite" if target.server_name() != self.server_name() => {
                let profile = MemberProfile {
                    displayname: content["displayname"].as_str().map(str::to_owned),
                    avatar_url: content["avatar_url"].as_str().map(str::to_owned),
                    extra: serde_json::Map::new(),
                };
                self.invite(
                    federation,
                    room_id,
                    sender,
                    target,
                    &profile,
                    content["reason"].as_str(),
                    content["is_direct"].as_bool().unwrap_or(false),
                )
                .await?;
                return self
                    .state_event_id(room_id, "m.room.member", target.as_str())?
                    .ok_or_else(|| Error::Internal("the invite was not stored".into()));
            }
            _ => {}
        }
        let pdu = self
            .set_membership(room_id, sender, target, content)
            .await?;
        Ok(pdu.event_id)
    }

    /// Asks to be let into a room whose join rule is `knock` or `knock_restricted`.
    pub async fn knock(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        profile: &MemberProfile,
        reason: Option<&str>,
    ) -> Result<()> {
        match self.membership(room_id, user_id)? {
            Some(Membership::Join) => {
                return Err(Error::Forbidden("You are already in the room".into()));
            }
            Some(Membership::Invite) => {
                return Err(Error::Forbidden(
                    "You are already invited; join instead".into(),
                ));
            }
            _ => {}
        }
        self.set_membership(
            room_id,
            user_id,
            user_id,
            member_content(Membership::Knock, profile, reason),
        )
        .await?;
        Ok(())
    }

    /// For a join by an uninvited user to a `restricted` room: a local member who may invite,
    /// provided the user is in one of the rooms the join rule allows. `None` when the room is not
    /// restricted, the user is invited, or no allowed room has them (the join is then refused by
    /// the authorization rules).
    pub fn restricted_join_authoriser(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
    ) -> Result<Option<ruma::OwnedUserId>> {
        let Some(rules) = self.state_pdu(room_id, "m.room.join_rules", "")? else {
            return Ok(None);
        };
        let content = rules.content_json();
        let rule = content
            .get("join_rule")
            .and_then(JsonValue::as_str)
            .unwrap_or_default();
        if !matches!(rule, "restricted" | "knock_restricted")
            || self.membership(room_id, user_id)? == Some(Membership::Invite)
        {
            return Ok(None);
        }
        let allowed = content
            .get("allow")
            .and_then(JsonValue::as_array)
            .into_iter()
            .flatten()
            .any(|condition| {
                condition.get("type").and_then(JsonValue::as_str) == Some("m.room_membership")
                    && condition
                        .get("room_id")
                        .and_then(JsonValue::as_str)
                        .and_then(|id| RoomId::parse(id).ok())
                        .is_some_and(|allowed_room| {
                            self.is_joined(&allowed_room, user_id).unwrap_or(false)
                        })
            });
        if !allowed {
            return Ok(None);
        }
        let invite_level = self.power_level_for(room_id, "invite", 0)?;
        for member in self.joined_members(room_id)? {
            let Some(candidate) = member
                .state_key
                .as_deref()
                .and_then(|key| UserId::parse(key).ok())
            else {
                continue;
            };
            if candidate.server_name() == self.server_name()
                && self.user_power_level(room_id, &candidate)? >= invite_level
            {
                return Ok(Some(candidate));
            }
        }
        Ok(None)
    }

    /// Whether a local user's join to a restricted room this server is in needs another
    /// server's member to authorise it: no local member may invite (or the user is in none of
    /// the allowed rooms as far as this server knows), so the join goes through the room's
    /// other servers, as Synapse does [Complement TestRestrictedRoomsRemoteJoinLocalUser].
    pub fn join_needs_remote_authoriser(&self, room_id: &RoomId, user_id: &UserId) -> Result<bool> {
        let restricted = self
            .state_pdu(room_id, "m.room.join_rules", "")?
            .is_some_and(|rules| {
                matches!(
                    rules
                        .content_json()
                        .get("join_rule")
                        .and_then(JsonValue::as_str),
                    Some("restricted" | "knock_restricted")
                )
            });
        Ok(restricted
            && !matches!(
                self.membership(room_id, user_id)?,
                Some(Membership::Invite | Membership::Join)
            )
            && self.restricted_join_authoriser(room_id, user_id)?.is_none())
    }

    /// Invites a user. A user of another server is invited through their server first, which
    /// signs the event; it is persisted with both signatures (the room lock is held throughout,
    /// so the event's place in the room stays valid).
    #[allow(clippy::too_many_arguments)]
    pub async fn invite(
        &self,
        federation: Option<&dyn crate::ports::Federation>,
        room_id: &RoomId,
        sender: &UserId,
        target: &UserId,
        profile: &MemberProfile,
        reason: Option<&str>,
        is_direct: bool,
    ) -> Result<()> {
        match self.membership(room_id, target)? {
            Some(Membership::Join) => {
                return Err(Error::Forbidden(format!("{target} is already in the room")));
            }
            Some(Membership::Ban) => {
                return Err(Error::Forbidden(format!(
                    "{target} is banned from the room"
                )));
            }
            _ => {}
        }
        let mut content = member_content(Membership::Invite, profile, reason);
        if is_direct {
            content["is_direct"] = true.into();
        }
        if target.server_name() == self.server_name() {
            self.set_membership(room_id, sender, target, content)
                .await?;
            return Ok(());
        }
        let federation = federation.ok_or_else(|| {
            Error::Forbidden("Federation is disabled: only local users can be invited".into())
        })?;
        let lock = self.lock(room_id).await;
        let info = self.existing_room(room_id)?;
        let rules = super::build::rules_of(&info)?;
        let spec = EventSpec::state(TimelineEventType::RoomMember, target.as_str(), content);
        let (pdu, object) = self.build(Some(room_id), &info, &rules, sender, &spec)?;
        self.authorize(&rules, &pdu)?;
        let mut invite_state = Vec::new();
        for kind in super::sync::STRIPPED_STATE_TYPES {
            if let Some(id) = self.state_event_id(room_id, kind, "")?
                && let Some(json) = self.pdu_json(&id)?
            {
                invite_state.push(json);
            }
        }
        if let Some(id) = self.state_event_id(room_id, "m.room.member", sender.as_str())?
            && let Some(json) = self.pdu_json(&id)?
        {
            invite_state.push(json);
        }
        let event = super::RemoteEvent {
            event_id: pdu.event_id.clone(),
            object,
        };
        let signed = federation
            .invite_remote(
                &info.room_version,
                &event.event_id,
                &event.object,
                invite_state,
            )
            .await?;
        self.persist(&lock, info, &rules, &pdu, signed).await?;
        Ok(())
    }

    /// Whether a user (of another server) is joined to a room this server follows: then their
    /// server tells us of their device and cross-signing key changes.
    pub fn shares_room_with_local(&self, user_id: &UserId) -> Result<bool> {
        for room_id in self.joined_rooms(user_id)? {
            if self.is_resident(&room_id)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Whether this server follows the room: it knows it and has a joined member in it.
    pub fn is_resident(&self, room_id: &RoomId) -> Result<bool> {
        Ok(self.room_info(room_id)?.is_some() && !self.local_joined_members(room_id)?.is_empty())
    }

    /// A membership change without profile fields: leave, kick, ban, unban.
    async fn change_membership(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        target: &UserId,
        membership: Membership,
        reason: Option<&str>,
    ) -> Result<()> {
        self.set_membership(
            room_id,
            sender,
            target,
            member_content(membership, &MemberProfile::default(), reason),
        )
        .await
        .map(|_| ())
    }

    /// Leaves (or rejects an invite, or withdraws a knock).
    pub async fn leave(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        reason: Option<&str>,
    ) -> Result<()> {
        self.change_membership(room_id, user_id, user_id, Membership::Leave, reason)
            .await
    }

    pub async fn kick(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        target: &UserId,
        reason: Option<&str>,
    ) -> Result<()> {
        if !matches!(
            self.membership(room_id, target)?,
            Some(Membership::Join | Membership::Invite | Membership::Knock)
        ) {
            return Err(Error::Forbidden(format!("{target} is not in the room")));
        }
        self.change_membership(room_id, sender, target, Membership::Leave, reason)
            .await
    }

    pub async fn ban(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        target: &UserId,
        reason: Option<&str>,
    ) -> Result<()> {
        self.change_membership(room_id, sender, target, Membership::Ban, reason)
            .await
    }

    pub async fn unban(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        target: &UserId,
        reason: Option<&str>,
    ) -> Result<()> {
        if self.membership(room_id, target)? != Some(Membership::Ban) {
            return Err(Error::Forbidden(format!("{target} is not banned")));
        }
        self.change_membership(room_id, sender, target, Membership::Leave, reason)
            .await
    }

    /// Forgets a room the user has left: it disappears from their sync.
    pub async fn forget(&self, room_id: &RoomId, user_id: &UserId) -> Result<()> {
        let Some(mut record) = self.membership_record(room_id, user_id)? else {
            return Err(Error::NotFound("You were never in this room".into()));
        };
        if matches!(
            record.membership,
            Membership::Join | Membership::Invite | Membership::Knock
        ) {
            return Err(Error::BadState(
                "You must leave the room before forgetting it".into(),
            ));
        }
        record.forgotten = true;
        let mut batch = WriteBatch::new();
        batch.put_json(
            USERROOM_MEMBERSHIP,
            compound_key(&[user_id.as_bytes(), room_id.as_bytes()]),
            &record,
        );
        self.store().commit(batch).await
    }
}
