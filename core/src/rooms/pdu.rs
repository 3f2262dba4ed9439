//! `PduEvent`: a stored room event, parsed once from its canonical JSON, with the views that
//! authorization (ruma's `Event` trait) and clients need.

use ruma::{
    CanonicalJsonObject, EventId, MilliSecondsSinceUnixEpoch, OwnedEventId, OwnedRoomId,
    OwnedUserId, RoomId, UInt, UserId, events::TimelineEventType,
};
use serde::Deserialize;
use serde_json::{Map, Value as JsonValue, value::RawValue as RawJsonValue};

use crate::error::{Error, Result};

/// A persisted data unit of a room.
#[derive(Debug, Clone, Deserialize)]
pub struct PduEvent {
    #[serde(skip_deserializing, default = "placeholder_event_id")]
    pub event_id: OwnedEventId,
    /// Absent only on the create event of rooms whose id is derived from it (v12).
    #[serde(default)]
    pub room_id: Option<OwnedRoomId>,
    pub sender: OwnedUserId,
    pub origin_server_ts: MilliSecondsSinceUnixEpoch,
    #[serde(rename = "type")]
    pub kind: TimelineEventType,
    pub content: Box<RawJsonValue>,
    #[serde(default)]
    pub state_key: Option<String>,
    #[serde(default, deserialize_with = "event_references")]
    pub prev_events: Vec<OwnedEventId>,
    #[serde(default, deserialize_with = "event_references")]
    pub auth_events: Vec<OwnedEventId>,
    /// Top-level `redacts` (room versions before 11).
    #[serde(default)]
    pub redacts: Option<OwnedEventId>,
    pub depth: UInt,
    /// Server-side annotations kept with the event (`redacted_because` after a redaction).
    #[serde(default)]
    pub unsigned: Option<Box<RawJsonValue>>,
}

/// `prev_events` and `auth_events` in either format: event ids (room versions 3 and later), or
/// `[event_id, {hashes}]` pairs (versions 1 and 2), whose hashes nothing checks.
fn event_references<'de, D>(deserializer: D) -> std::result::Result<Vec<OwnedEventId>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct Reference(OwnedEventId);

    impl<'de> Deserialize<'de> for Reference {
        fn deserialize<D>(deserializer: D) -> std::result::Result<Self, D::Error>
        where
            D: serde::Deserializer<'de>,
        {
            struct Visitor;

            impl<'de> serde::de::Visitor<'de> for Visitor {
                type Value = Reference;

                fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    formatter.write_str("an event id, or an [event id, hashes] pair")
                }

                fn visit_str<E: serde::de::Error>(
                    self,
                    value: &str,
                ) -> std::result::Result<Reference, E> {
                    EventId::parse(value).map(Reference).map_err(E::custom)
                }

                fn visit_seq<A: serde::de::SeqAccess<'de>>(
                    self,
                    mut sequence: A,
                ) -> std::result::Result<Reference, A::Error> {
                    let id: OwnedEventId = sequence
                        .next_element()?
                        .ok_or_else(|| serde::de::Error::invalid_length(0, &self))?;
                    while sequence.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                    Ok(Reference(id))
                }
            }

            deserializer.deserialize_any(Visitor)
        }
    }

    let references: Vec<Reference> = Deserialize::deserialize(deserializer)?;
    Ok(references
        .into_iter()
        .map(|reference| reference.0)
        .collect())
}

/// The id of an event in canonical JSON: its `event_id` field in room versions 1 and 2, its
/// reference hash after (standard base64 in v3, url-safe from v4), as the version's rules say.
pub fn event_id_of(
    object: &CanonicalJsonObject,
    rules: &ruma::room_version_rules::RoomVersionRules,
) -> Result<OwnedEventId> {
    if rules.event_id_format == ruma::room_version_rules::EventIdFormatVersion::V1 {
        return match object.get("event_id") {
            Some(ruma::CanonicalJsonValue::String(id)) => EventId::parse(id)
                .map_err(|error| Error::BadJson(format!("Invalid event_id {id}: {error}"))),
            _ => Err(Error::BadJson(
                "Events of this room version carry their event_id".into(),
            )),
        };
    }
    let hash = ruma::signatures::reference_hash(object, rules)
        .map_err(|error| Error::BadJson(format!("Cannot hash the event: {error}")))?;
    EventId::parse(format!("${hash}")).map_err(|error| Error::BadJson(error.to_string()))
}

fn placeholder_event_id() -> OwnedEventId {
    EventId::parse("$placeholder").expect("a literal, valid event id")
}

impl PduEvent {
    /// Parses a stored PDU.
    pub fn from_json_bytes(event_id: OwnedEventId, bytes: &[u8]) -> Result<Self> {
        let mut pdu: PduEvent = serde_json::from_slice(bytes)
            .map_err(|error| Error::Storage(format!("unreadable PDU {event_id}: {error}")))?;
        pdu.event_id = event_id;
        Ok(pdu)
    }

    pub fn from_canonical(event_id: OwnedEventId, object: &CanonicalJsonObject) -> Result<Self> {
        let bytes =
            serde_json::to_vec(object).map_err(|error| Error::Internal(error.to_string()))?;
        Self::from_json_bytes(event_id, &bytes)
    }

    /// The room, also for a v12 create event whose room id is its own event id.
    pub fn room(&self) -> OwnedRoomId {
        self.room_id.clone().unwrap_or_else(|| {
            RoomId::parse(format!("!{}", &self.event_id.as_str()[1..]))
                .expect("an event id body is a valid room id body")
        })
    }

    pub fn content_json(&self) -> JsonValue {
        serde_json::from_str(self.content.get()).unwrap_or_else(|_| JsonValue::Object(Map::new()))
    }

    /// The event a redaction redacts, wherever the room version puts it.
    pub fn redacted_event(&self) -> Option<OwnedEventId> {
        if self.kind != TimelineEventType::RoomRedaction {
            return None;
        }
        self.redacts.clone().or_else(|| {
            self.content_json()
                .get("redacts")
                .and_then(JsonValue::as_str)
                .and_then(|id| EventId::parse(id).ok())
        })
    }

    /// Whether a redaction was applied to the stored event (`unsigned.redacted_because`).
    pub fn is_redacted(&self) -> bool {
        self.unsigned.as_ref().is_some_and(|unsigned| {
            serde_json::from_str::<JsonValue>(unsigned.get())
                .is_ok_and(|value| value.get("redacted_because").is_some())
        })
    }

    pub fn is_state(&self) -> bool {
        self.state_key.is_some()
    }

    /// The client-server format (`ClientEvent`), with or without `room_id`.
    pub fn to_client_event(&self, with_room_id: bool) -> JsonValue {
        let mut event = Map::new();
        event.insert("type".into(), self.kind.to_string().into());
        event.insert("content".into(), self.content_json());
        event.insert("sender".into(), self.sender.as_str().into());
        event.insert("event_id".into(), self.event_id.as_str().into());
        event.insert(
            "origin_server_ts".into(),
            u64::from(self.origin_server_ts.0).into(),
        );
        if let Some(state_key) = &self.state_key {
            event.insert("state_key".into(), state_key.clone().into());
        }
        if let Some(redacts) = self.redacted_event() {
            event.insert("redacts".into(), redacts.as_str().into());
        }
        if with_room_id {
            event.insert("room_id".into(), self.room().as_str().into());
        }
        let unsigned = self
            .unsigned
            .as_ref()
            .and_then(|raw| serde_json::from_str(raw.get()).ok())
            .unwrap_or_else(|| JsonValue::Object(Map::new()));
        event.insert("unsigned".into(), unsigned);
        JsonValue::Object(event)
    }

    /// `(type, state_key)` for state events.
    pub fn state_key_pair(&self) -> Option<(String, String)> {
        self.state_key
            .as_ref()
            .map(|key| (self.kind.to_string(), key.clone()))
    }
}

impl ruma::state_res::Event for PduEvent {
    type Id = OwnedEventId;

    fn event_id(&self) -> &Self::Id {
        &self.event_id
    }

    fn room_id(&self) -> Option<&RoomId> {
        self.room_id.as_deref()
    }

    fn sender(&self) -> &UserId {
        &self.sender
    }

    fn origin_server_ts(&self) -> MilliSecondsSinceUnixEpoch {
        self.origin_server_ts
    }

    fn event_type(&self) -> &TimelineEventType {
        &self.kind
    }

    fn content(&self) -> &RawJsonValue {
        &self.content
    }

    fn state_key(&self) -> Option<&str> {
        self.state_key.as_deref()
    }

    fn prev_events(&self) -> Box<dyn DoubleEndedIterator<Item = &Self::Id> + '_> {
        Box::new(self.prev_events.iter())
    }

    fn auth_events(&self) -> Box<dyn DoubleEndedIterator<Item = &Self::Id> + '_> {
        Box::new(self.auth_events.iter())
    }

    fn redacts(&self) -> Option<&Self::Id> {
        self.redacts.as_ref()
    }

    fn rejected(&self) -> bool {
        false
    }
}
