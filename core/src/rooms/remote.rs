//! What this server does for other servers' rooms and users: signing events they built (invites
//! of our users), remembering invites to rooms we are not in, walking the event graph for
//! `backfill` and `get_missing_events`, and the servers a room's events must reach.

use std::collections::{BTreeSet, HashSet, VecDeque};

use ruma::{
    CanonicalJsonObject, EventId, OwnedEventId, OwnedServerName, RoomId, RoomVersionId, UserId,
    events::TimelineEventType,
};
use serde_json::Value as JsonValue;

use super::{
    Membership, PduEvent, Rooms,
    state::{MembershipRecord, USERROOM_MEMBERSHIP},
};
use crate::{
    error::{Error, Result},
    storage::{WriteBatch, compound_key},
    stream::StreamItem,
};

/// Stripped state sent with invites to rooms this server is not in.
pub(crate) const ROOMUSER_INVITESTATE: &str = "roomiduserid_invitestate";
/// The version of a room this server knows only through a local user's invite or knock.
pub(crate) const ROOM_REMOTEVERSION: &str = "roomid_remoteversion";

impl Rooms {
    /// Adds this server's signature to an event another server built (an invite of one of our
    /// users, or a join authorised by one of them).
    pub fn sign_foreign_event(
        &self,
        room_version: &RoomVersionId,
        object: &mut CanonicalJsonObject,
    ) -> Result<()> {
        let rules = room_version.rules().ok_or_else(|| {
            Error::UnsupportedRoomVersion(format!("Room version {room_version} is not supported"))
        })?;
        ruma::signatures::sign_event(
            self.server_name().as_str(),
            &self.inner.keys.key_pair,
            object,
            &rules.redaction,
        )
        .map_err(|error| Error::BadJson(format!("Cannot sign the event: {error}")))
    }

    /// Whether the room's current state allows a membership template this server hands out
    /// (`make_join`, `make_leave`, `make_knock`): `Forbidden` with the rules' reason if not.
    pub fn check_template(&self, room_id: &RoomId, template: &CanonicalJsonObject) -> Result<()> {
        let info = self.existing_room(room_id)?;
        let rules = super::build::rules_of(&info)?;
        let Some(snapshot) = info.state_snapshot else {
            return Ok(());
        };
        let state = self.snapshot_map(snapshot)?;
        let placeholder = EventId::parse("$template").expect("a literal, valid event id");
        let pdu = PduEvent::from_canonical(placeholder.to_owned(), template)?;
        self.authorize_against(&rules, &pdu, &state)
            .map_err(|reason| Error::Forbidden(format!("The room's rules refuse this: {reason}")))
    }

    /// Hashes and signs an event built from another server's template (`make_join` and kin).
    pub fn sign_template(
        &self,
        room_version: &RoomVersionId,
        mut object: CanonicalJsonObject,
    ) -> Result<super::RemoteEvent> {
        let rules = room_version.rules().ok_or_else(|| {
            Error::UnsupportedRoomVersion(format!("Room version {room_version} is not supported"))
        })?;
        for field in ["event_id", "hashes", "signatures", "unsigned"] {
            object.remove(field);
        }
        let (pdu, object) = self.sign_and_hash(object, &rules)?;
        Ok(super::RemoteEvent {
            event_id: pdu.event_id,
            object,
        })
    }

    /// Records an invite of a local user to a room this server is not in: the invite event as
    /// an outlier, the stripped state for the invitee's sync, and the membership.
    pub async fn store_remote_invite(
        &self,
        event_id: &EventId,
        object: &CanonicalJsonObject,
        invite_state: Vec<JsonValue>,
        room_version: &RoomVersionId,
    ) -> Result<()> {
        self.store_remote_membership(
            event_id,
            object,
            invite_state,
            Membership::Invite,
            room_version,
        )
        .await
    }

    /// The version of a room known only through a local user's invite or knock.
    pub fn remote_room_version(&self, room_id: &RoomId) -> Result<Option<RoomVersionId>> {
        Ok(self
            .store()
            .get(ROOM_REMOTEVERSION, room_id.as_bytes())?
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|version| RoomVersionId::try_from(version).ok()))
    }

    /// The end of a local user's invite or knock in a room this server is not in, sent by
    /// the room (a rescinded invite, a refused knock): `event` must be a leave or ban of a
    /// local user whose membership is invite or knock, sent by the user or by whoever invited
    /// them [Complement TestFederationRoomsInvite, rescinding]. Returns whether it was taken.
    pub async fn end_remote_membership(&self, event: &super::RemoteEvent) -> Result<bool> {
        let pdu = event.pdu()?;
        let room_id = pdu.room();
        let Some(target) = pdu
            .state_key
            .as_deref()
            .and_then(|key| UserId::parse(key).ok())
        else {
            return Ok(false);
        };
        let membership = pdu
            .content_json()
            .get("membership")
            .and_then(JsonValue::as_str)
            .map(str::to_owned);
        let ending = match membership.as_deref() {
            Some("leave") => Membership::Leave,
            Some("ban") => Membership::Ban,
            _ => return Ok(false),
        };
        if pdu.kind != TimelineEventType::RoomMember
            || target.server_name() != self.server_name()
            || self.room_info(&room_id)?.is_some()
        {
            return Ok(false);
        }
        let Some(record) = self.membership_record(&room_id, &target)? else {
            return Ok(false);
        };
        if !matches!(record.membership, Membership::Invite | Membership::Knock) {
            return Ok(false);
        }
        let by_inviter = record.membership == Membership::Invite
            && self
                .pdu(&record.event_id)?
                .is_some_and(|invite| invite.sender == pdu.sender);
        if pdu.sender != target && !by_inviter && record.membership == Membership::Invite {
            return Ok(false);
        }
        self.store_membership_outlier(event).await?;
        self.record_membership(
            WriteBatch::new(),
            &room_id,
            &target,
            ending,
            &event.event_id,
        )
        .await?;
        Ok(true)
    }

    /// Records a local user's invite or knock in a room this server is not in, with the
    /// stripped state their sync shows for it.
    pub async fn store_remote_membership(
        &self,
        event_id: &EventId,
        object: &CanonicalJsonObject,
        invite_state: Vec<JsonValue>,
        membership: Membership,
        room_version: &RoomVersionId,
    ) -> Result<()> {
        let pdu = PduEvent::from_canonical(event_id.to_owned(), object)?;
        let room_id = pdu.room();
        let invitee = pdu
            .state_key
            .as_deref()
            .and_then(|key| UserId::parse(key).ok())
            .ok_or_else(|| Error::BadJson("An invite needs a user id as state_key".into()))?;
        let mut batch = WriteBatch::new();
        batch.put(
            super::state::EVENTID_PDU,
            event_id.as_bytes().to_vec(),
            serde_json::to_vec(object).map_err(|error| Error::Internal(error.to_string()))?,
        );
        let mut state = invite_state;
        state.push(serde_json::json!({
            "type": "m.room.member",
            "state_key": invitee,
            "sender": pdu.sender,
            "content": pdu.content_json(),
        }));
        batch.put_json(
            ROOMUSER_INVITESTATE,
            compound_key(&[room_id.as_bytes(), invitee.as_bytes()]),
            &state,
        );
        batch.put(
            ROOM_REMOTEVERSION,
            room_id.as_bytes().to_vec(),
            room_version.as_str().as_bytes().to_vec(),
        );
        self.record_membership(batch, &room_id, &invitee, membership, event_id)
            .await
    }

    /// Sets a local user's membership in a room this server does not (or no longer) follow,
    /// with a stream position so their sync shows the change.
    pub async fn record_membership(
        &self,
        mut batch: WriteBatch,
        room_id: &RoomId,
        user_id: &UserId,
        membership: Membership,
        event_id: &EventId,
    ) -> Result<()> {
        let pending = self.notifier().next();
        let record = MembershipRecord {
            membership,
            position: pending.position,
            event_id: event_id.to_owned(),
            forgotten: false,
        };
        batch.put_json(
            super::history::ROOMUSERPOSITION_MEMBERSHIP,
            compound_key(&[
                room_id.as_bytes(),
                user_id.as_bytes(),
                &pending.position.to_be_bytes(),
            ]),
            &record,
        );
        batch.put_json(
            USERROOM_MEMBERSHIP,
            compound_key(&[user_id.as_bytes(), room_id.as_bytes()]),
            &record,
        );
        pending.record(
            &mut batch,
            &StreamItem::Membership {
                room_id: room_id.to_owned(),
                user_id: user_id.to_owned(),
            },
        );
        self.store().commit(batch).await?;
        drop(pending);
        Ok(())
    }

    /// The stripped state kept with an invite to a room this server is not in.
    pub(crate) fn remote_invite_state(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
    ) -> Result<Option<Vec<JsonValue>>> {
        self.store().get_json(
            ROOMUSER_INVITESTATE,
            &compound_key(&[room_id.as_bytes(), user_id.as_bytes()]),
        )
    }

    /// The event a local user's current membership came from (the invite, for a rejection).
    pub fn membership_event(&self, room_id: &RoomId, user_id: &UserId) -> Result<Option<PduEvent>> {
        match self.membership_record(room_id, user_id)? {
            Some(record) => self.pdu(&record.event_id),
            None => Ok(None),
        }
    }

    /// Whether `server` may take part in the room per its `m.room.server_acl` (inbound events
    /// and requests, and outbound delivery, all obey it).
    pub fn server_acl_allows(&self, room_id: &RoomId, server: &ruma::ServerName) -> Result<bool> {
        let Some(acl) = self.state_pdu(room_id, "m.room.server_acl", "")? else {
            return Ok(true);
        };
        match serde_json::from_str::<ruma::events::room::server_acl::RoomServerAclEventContent>(
            acl.content.get(),
        ) {
            Ok(content) => Ok(content.is_allowed(server)),
            Err(_) => Ok(true),
        }
    }

    /// Servers with a joined member in the room now (this one included when it has one).
    pub fn joined_servers(&self, room_id: &RoomId) -> Result<BTreeSet<OwnedServerName>> {
        match self
            .room_info(room_id)?
            .and_then(|info| info.state_snapshot)
        {
            Some(snapshot) => Ok((*self.joined_servers_of(snapshot)?).clone()),
            // Rooms stored before snapshots existed.
            None => Ok(self
                .joined_members(room_id)?
                .into_iter()
                .filter_map(|event| {
                    event
                        .state_key
                        .as_deref()
                        .and_then(|key| UserId::parse(key).ok())
                        .map(|user| user.server_name().to_owned())
                })
                .collect()),
        }
    }

    /// Servers with a joined member in the state after `event_id`.
    pub fn joined_servers_at(&self, event_id: &EventId) -> Result<BTreeSet<OwnedServerName>> {
        match self.event_snapshots(event_id)? {
            Some((_, after)) => Ok((*self.joined_servers_of(after)?).clone()),
            None => Ok(BTreeSet::new()),
        }
    }

    /// Servers with a joined member in a state snapshot; snapshots never change, so the answer
    /// is cached (federation reads and EDU fan-out ask for it all the time).
    fn joined_servers_of(
        &self,
        snapshot: u64,
    ) -> Result<std::sync::Arc<BTreeSet<OwnedServerName>>> {
        if let Some(servers) = self.inner.snapshots.cached_servers(snapshot) {
            return Ok(servers);
        }
        let state = self.snapshot_map(snapshot)?;
        let mut servers = BTreeSet::new();
        for ((kind, key), id) in state.iter() {
            if kind != "m.room.member" {
                continue;
            }
            let Ok(user) = UserId::parse(key.as_str()) else {
                continue;
            };
            if servers.contains(user.server_name()) {
                continue;
            }
            if let Some(member) = self.pdu(id)?
                && member
                    .content_json()
                    .get("membership")
                    .and_then(JsonValue::as_str)
                    == Some("join")
            {
                servers.insert(user.server_name().to_owned());
            }
        }
        let servers = std::sync::Arc::new(servers);
        self.inner
            .snapshots
            .cache_servers(snapshot, std::sync::Arc::clone(&servers));
        Ok(servers)
    }

    /// Whether `server` had a joined member when `event_id` happened (or now, without one):
    /// who may read a room's events over federation.
    pub fn server_in_room(&self, room_id: &RoomId, server: &ruma::ServerName) -> Result<bool> {
        Ok(self.joined_servers(room_id)?.contains(server))
    }

    /// Events before `from` (and `from` themselves), newest first, walking `prev_events`
    /// breadth-first: the federation `backfill` answer.
    pub fn backfill_events(
        &self,
        room_id: &RoomId,
        server: &ruma::ServerName,
        from: &[OwnedEventId],
        limit: usize,
    ) -> Result<Vec<JsonValue>> {
        let rules = super::build::rules_of(&self.existing_room(room_id)?)?;
        let mut seen: HashSet<OwnedEventId> = HashSet::new();
        let mut queue: VecDeque<OwnedEventId> = from.iter().cloned().collect();
        let mut events = Vec::new();
        while let Some(id) = queue.pop_front() {
            if events.len() >= limit {
                break;
            }
            if !seen.insert(id.clone()) {
                continue;
            }
            let Some(pdu) = self.pdu(&id)? else {
                continue;
            };
            if pdu.room() != room_id {
                continue;
            }
            if let Some(json) = self.pdu_json(&id)? {
                events.push(self.as_server_may_see(server, &pdu, json, &rules)?);
            }
            queue.extend(pdu.prev_events);
        }
        Ok(events)
    }

    /// Events between `earliest` (excluded) and `latest` (excluded), walking back from `latest`
    /// (`get_missing_events`), oldest first.
    pub fn missing_events(
        &self,
        room_id: &RoomId,
        server: &ruma::ServerName,
        earliest: &[OwnedEventId],
        latest: &[OwnedEventId],
        limit: usize,
        min_depth: u64,
    ) -> Result<Vec<JsonValue>> {
        let rules = super::build::rules_of(&self.existing_room(room_id)?)?;
        let mut seen: HashSet<OwnedEventId> = earliest.iter().cloned().collect();
        seen.extend(latest.iter().cloned());
        let mut queue: VecDeque<OwnedEventId> = VecDeque::new();
        for id in latest {
            if let Some(pdu) = self.pdu(id)? {
                queue.extend(pdu.prev_events);
            }
        }
        let mut found = Vec::new();
        while let Some(id) = queue.pop_front() {
            if found.len() >= limit {
                break;
            }
            if !seen.insert(id.clone()) {
                continue;
            }
            let Some(pdu) = self.pdu(&id)? else {
                continue;
            };
            if pdu.room() != room_id || u64::from(pdu.depth) < min_depth {
                continue;
            }
            queue.extend(pdu.prev_events.iter().cloned());
            if let Some(json) = self.pdu_json(&id)? {
                found.push((
                    u64::from(pdu.depth),
                    self.as_server_may_see(server, &pdu, json, &rules)?,
                ));
            }
        }
        found.sort_by_key(|(depth, _)| *depth);
        Ok(found.into_iter().map(|(_, json)| json).collect())
    }

    /// A stored event as `server` may have it (see `as_server_may_see`), for `/event`.
    pub fn pdu_json_for_server(
        &self,
        server: &ruma::ServerName,
        event_id: &EventId,
    ) -> Result<Option<JsonValue>> {
        let (Some(pdu), Some(json)) = (self.pdu(event_id)?, self.pdu_json(event_id)?) else {
            return Ok(None);
        };
        let rules = super::build::rules_of(&self.existing_room(&pdu.room())?)?;
        self.as_server_may_see(server, &pdu, json, &rules).map(Some)
    }

    /// An event as `server` may have it: whole when it may see it, redacted (by the room
    /// version's algorithm) when not, as Synapse serves history it hides [Complement
    /// TestInboundCanReturnMissingEvents]. Nothing is left out: the other server needs the
    /// event in the graph. An erased sender's events are always redacted for other servers,
    /// as Synapse's `filter_events_for_server` prunes them.
    fn as_server_may_see(
        &self,
        server: &ruma::ServerName,
        pdu: &PduEvent,
        json: JsonValue,
        rules: &ruma::room_version_rules::RoomVersionRules,
    ) -> Result<JsonValue> {
        if !self.is_erased(&pdu.sender) && self.server_may_see(server, pdu)? {
            return Ok(json);
        }
        let object: ruma::CanonicalJsonObject = serde_json::from_value(json)
            .map_err(|error| crate::error::Error::Storage(error.to_string()))?;
        let redacted =
            ruma::canonical_json::redact(object, &rules.redaction, None).map_err(|error| {
                crate::error::Error::Internal(format!("redacting an event: {error}"))
            })?;
        serde_json::to_value(redacted)
            .map_err(|error| crate::error::Error::Internal(error.to_string()))
    }

    /// Whether `event_id` is a state event of `room_id` on its timeline, for serving it.
    pub fn event_in_room(&self, room_id: &RoomId, event_id: &EventId) -> Result<Option<PduEvent>> {
        Ok(self.pdu(event_id)?.filter(|pdu| pdu.room() == room_id))
    }

    /// The event persisted at a stream position.
    pub fn event_at_position(
        &self,
        room_id: &RoomId,
        position: u64,
    ) -> Result<Option<OwnedEventId>> {
        Ok(self
            .store()
            .get(
                super::persist::ROOMPOSITION_EVENTID,
                &super::persist::timeline_key(room_id, position),
            )?
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|id| EventId::parse(id).ok()))
    }

    /// The event at a stream position of a room: what stream followers (senders, `/sync`)
    /// read for each `StreamItem::Event`.
    pub fn pdu_at_position(&self, room_id: &RoomId, position: u64) -> Result<Option<PduEvent>> {
        match self.event_at_position(room_id, position)? {
            Some(event_id) => self.pdu(&event_id),
            None => Ok(None),
        }
    }

    /// Whether the event is a membership change of `user_id` to `membership`.
    pub fn is_membership_event(pdu: &PduEvent, membership: Membership) -> bool {
        pdu.kind == TimelineEventType::RoomMember
            && pdu
                .content_json()
                .get("membership")
                .and_then(JsonValue::as_str)
                == Some(membership.as_str())
    }
}
