//! Building a local event: `prev_events`, `auth_events`, depth, content hash, signature and the
//! reference-hash event id, as a federation-ready PDU.

use ruma::{
    CanonicalJsonObject, CanonicalJsonValue, MilliSecondsSinceUnixEpoch, OwnedEventId, RoomId,
    UserId,
    events::{StateEventType, TimelineEventType},
    room_version_rules::RoomVersionRules,
    signatures::hash_and_sign_event,
};
use serde_json::{Value as JsonValue, value::to_raw_value};

use super::{PduEvent, RoomInfo, RoomLock, Rooms};
use crate::{
    error::{Error, Result},
    storage::WriteBatch,
};

/// The largest PDU the spec allows, in canonical JSON bytes.
pub const MAX_PDU_BYTES: usize = 65_536;

/// What a local event should say.
#[derive(Debug, Clone)]
pub struct EventSpec {
    pub kind: TimelineEventType,
    pub state_key: Option<String>,
    pub content: JsonValue,
    /// For `m.room.redaction`: placed top-level or in `content` as the room version wants.
    pub redacts: Option<OwnedEventId>,
    /// The event's `origin_server_ts` when an appservice sets it (`?ts=`); now otherwise.
    pub timestamp: Option<u64>,
}

impl EventSpec {
    pub fn state(
        kind: impl Into<TimelineEventType>,
        state_key: impl Into<String>,
        content: JsonValue,
    ) -> Self {
        Self {
            kind: kind.into(),
            state_key: Some(state_key.into()),
            content,
            redacts: None,
            timestamp: None,
        }
    }

    pub fn message(kind: impl Into<TimelineEventType>, content: JsonValue) -> Self {
        Self {
            kind: kind.into(),
            state_key: None,
            content,
            redacts: None,
            timestamp: None,
        }
    }

    /// A redaction of `target`, with `redacts` in the content too (room version 11 and later
    /// read it there; older versions ignore it).
    pub fn redaction(target: &ruma::EventId, reason: Option<&str>) -> Self {
        let mut content = serde_json::json!({ "redacts": target });
        if let Some(reason) = reason {
            content["reason"] = reason.into();
        }
        Self {
            kind: TimelineEventType::RoomRedaction,
            state_key: None,
            content,
            redacts: Some(target.to_owned()),
            timestamp: None,
        }
    }
}

fn to_canonical(value: JsonValue) -> Result<CanonicalJsonValue> {
    CanonicalJsonValue::try_from(value)
        .map_err(|error| Error::BadJson(format!("Content is not canonical JSON: {error}")))
}

impl Rooms {
    /// Builds, signs, authorizes and persists one event of a local user.
    #[tracing::instrument(skip_all, fields(room_id = %lock.room_id(), %sender, kind = %spec.kind))]
    pub async fn append(
        &self,
        lock: &RoomLock,
        sender: &UserId,
        spec: EventSpec,
    ) -> Result<PduEvent> {
        self.append_with(lock, sender, spec, |_| WriteBatch::new())
            .await
    }

    /// [`Rooms::append`], with writes derived from the finished event (`extra`) committed in the
    /// same atomic batch.
    pub(crate) async fn append_with(
        &self,
        lock: &RoomLock,
        sender: &UserId,
        spec: EventSpec,
        extra: impl FnOnce(&PduEvent) -> WriteBatch,
    ) -> Result<PduEvent> {
        super::content_shape::check_new_event(
            lock.room_id(),
            &spec.kind.to_string(),
            spec.state_key.as_deref(),
            &spec.content,
        )?;
        let info = self.existing_room(lock.room_id())?;
        let rules = rules_of(&info)?;
        let (pdu, object) = self.build(Some(lock.room_id()), &info, &rules, sender, &spec)?;
        self.authorize(&rules, &pdu)?;
        let batch = extra(&pdu);
        self.persist_with(lock, info, &rules, &pdu, object, batch)
            .await?;
        Ok(pdu)
    }

    /// Builds and signs an event. `room_id` is `None` only for a create event whose room id will
    /// be derived from its own event id (room version 12).
    pub(crate) fn build(
        &self,
        room_id: Option<&RoomId>,
        info: &RoomInfo,
        rules: &RoomVersionRules,
        sender: &UserId,
        spec: &EventSpec,
    ) -> Result<(PduEvent, CanonicalJsonObject)> {
        let object = self.unsigned_object(room_id, info, rules, sender, spec)?;
        self.sign_and_hash(object, rules)
    }

    /// An unsigned event for a user of another server to sign (`make_join`, `make_leave`,
    /// `make_knock`): prev and auth events chosen from this server's view of the room.
    pub fn event_template(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        spec: &EventSpec,
    ) -> Result<(ruma::RoomVersionId, CanonicalJsonObject)> {
        let info = self.existing_room(room_id)?;
        let rules = rules_of(&info)?;
        let object = self.unsigned_object(Some(room_id), &info, &rules, sender, spec)?;
        Ok((info.room_version, object))
    }

    fn unsigned_object(
        &self,
        room_id: Option<&RoomId>,
        info: &RoomInfo,
        rules: &RoomVersionRules,
        sender: &UserId,
        spec: &EventSpec,
    ) -> Result<CanonicalJsonObject> {
        check_field_limits(sender, spec)?;
        let content_raw =
            to_raw_value(&spec.content).map_err(|error| Error::BadJson(error.to_string()))?;
        let auth_events = match room_id {
            Some(room_id) => self.select_auth_events(room_id, rules, sender, spec, &content_raw)?,
            None => Vec::new(),
        };
        let mut object = CanonicalJsonObject::new();
        // Room versions 1 and 2 reference events as `[event_id, {"sha256": content hash}]`,
        // as Synapse writes them; later versions by id alone.
        let pairs = rules.events_reference_format
            == ruma::room_version_rules::EventsReferenceFormatVersion::V1;
        let ids = |ids: &[OwnedEventId]| -> Result<CanonicalJsonValue> {
            let mut references = Vec::with_capacity(ids.len());
            for id in ids {
                let id_value = CanonicalJsonValue::String(id.to_string());
                if !pairs {
                    references.push(id_value);
                    continue;
                }
                let mut hashes = CanonicalJsonObject::new();
                if let Some(sha256) = self
                    .pdu_json(id)?
                    .as_ref()
                    .and_then(|event| event["hashes"]["sha256"].as_str())
                {
                    hashes.insert(
                        "sha256".into(),
                        CanonicalJsonValue::String(sha256.to_owned()),
                    );
                }
                references.push(CanonicalJsonValue::Array(vec![
                    id_value,
                    CanonicalJsonValue::Object(hashes),
                ]));
            }
            Ok(CanonicalJsonValue::Array(references))
        };
        object.insert("auth_events".into(), ids(&auth_events)?);
        object.insert("prev_events".into(), ids(&info.forward_extremities)?);
        object.insert("content".into(), to_canonical(spec.content.clone())?);
        object.insert(
            "depth".into(),
            CanonicalJsonValue::Integer(
                (info.latest_depth + 1)
                    .try_into()
                    .map_err(|_| Error::Internal("depth overflow".into()))?,
            ),
        );
        let timestamp = match spec.timestamp {
            Some(timestamp) => ruma::UInt::try_from(timestamp)
                .map_err(|_| Error::InvalidParam("ts is out of range".into()))?,
            None => MilliSecondsSinceUnixEpoch::now().0,
        };
        object.insert(
            "origin_server_ts".into(),
            CanonicalJsonValue::Integer(timestamp.into()),
        );
        if let Some(room_id) = room_id {
            object.insert(
                "room_id".into(),
                CanonicalJsonValue::String(room_id.to_string()),
            );
        }
        object.insert(
            "sender".into(),
            CanonicalJsonValue::String(sender.to_string()),
        );
        object.insert(
            "type".into(),
            CanonicalJsonValue::String(spec.kind.to_string()),
        );
        if let Some(state_key) = &spec.state_key {
            object.insert(
                "state_key".into(),
                CanonicalJsonValue::String(state_key.clone()),
            );
        }
        if let Some(redacts) = &spec.redacts
            && !rules.redaction.content_field_redacts
        {
            object.insert(
                "redacts".into(),
                CanonicalJsonValue::String(redacts.to_string()),
            );
        }

        Ok(object)
    }

    /// Hashes and signs an event with this server's key; returns it with its event id.
    pub(crate) fn sign_and_hash(
        &self,
        mut object: CanonicalJsonObject,
        rules: &RoomVersionRules,
    ) -> Result<(PduEvent, CanonicalJsonObject)> {
        // Checked before signing as well: ruma refuses to sign an oversize event.
        let unsigned_size = serde_json::to_vec(&object)
            .map_err(|error| Error::Internal(error.to_string()))?
            .len();
        if unsigned_size > MAX_PDU_BYTES {
            return Err(Error::TooLarge(format!(
                "Event is larger than the {MAX_PDU_BYTES} bytes allowed"
            )));
        }
        // Room versions 1 and 2: the id is made up by the sending server and signed with the
        // event (`$random:server`).
        if rules.event_id_format == ruma::room_version_rules::EventIdFormatVersion::V1 {
            let id = format!(
                "${}:{}",
                crate::users::random_string(18),
                self.server_name()
            );
            object.insert("event_id".into(), CanonicalJsonValue::String(id));
        }
        let keys = &self.inner.keys;
        hash_and_sign_event(
            self.server_name().as_str(),
            &keys.key_pair,
            &mut object,
            &rules.redaction,
        )
        .map_err(|error| Error::Internal(format!("signing an event failed: {error}")))?;
        let size = serde_json::to_vec(&object)
            .map_err(|error| Error::Internal(error.to_string()))?
            .len();
        if size > MAX_PDU_BYTES {
            return Err(Error::TooLarge(format!(
                "Event is {size} bytes, more than the {MAX_PDU_BYTES} allowed"
            )));
        }
        let event_id = super::pdu::event_id_of(&object, rules)
            .map_err(|error| Error::Internal(format!("identifying an event failed: {error}")))?;
        let pdu = PduEvent::from_canonical(event_id, &object)?;
        Ok((pdu, object))
    }

    fn select_auth_events(
        &self,
        room_id: &RoomId,
        rules: &RoomVersionRules,
        sender: &UserId,
        spec: &EventSpec,
        content: &serde_json::value::RawValue,
    ) -> Result<Vec<OwnedEventId>> {
        let types = ruma::state_res::auth_types_for_event(
            &spec.kind,
            sender,
            spec.state_key.as_deref(),
            content,
            &rules.authorization,
        )
        .map_err(|error| Error::BadJson(format!("Invalid event content: {error}")))?;
        let mut auth_events = Vec::with_capacity(types.len());
        for (kind, state_key) in types {
            if let Some(event_id) = self.state_event_id(room_id, &kind.to_string(), &state_key)?
                && !auth_events.contains(&event_id)
            {
                auth_events.push(event_id);
            }
        }
        if !rules.authorization.room_create_event_id_as_room_id && !auth_events.is_empty() {
            // Keep the create event first, as Synapse orders them; purely cosmetic.
            if let Some(create) =
                self.state_event_id(room_id, &StateEventType::RoomCreate.to_string(), "")?
            {
                auth_events.retain(|id| *id != create);
                auth_events.insert(0, create);
            }
        }
        Ok(auth_events)
    }
}

pub(crate) fn rules_of(info: &RoomInfo) -> Result<RoomVersionRules> {
    info.room_version.rules().ok_or_else(|| {
        Error::Unsupported(format!(
            "Room version {} is not supported",
            info.room_version
        ))
    })
}

/// The spec's size limits on identifiers inside events.
fn check_field_limits(sender: &UserId, spec: &EventSpec) -> Result<()> {
    if sender.as_str().len() > 255 {
        return Err(Error::InvalidParam(
            "sender is longer than 255 bytes".into(),
        ));
    }
    if spec.kind.to_string().len() > 255 {
        return Err(Error::InvalidParam(
            "Event type is longer than 255 bytes".into(),
        ));
    }
    if spec.state_key.as_ref().is_some_and(|key| key.len() > 255) {
        return Err(Error::InvalidParam(
            "state_key is longer than 255 bytes".into(),
        ));
    }
    if !spec.content.is_object() {
        return Err(Error::BadJson("Event content must be a JSON object".into()));
    }
    Ok(())
}
