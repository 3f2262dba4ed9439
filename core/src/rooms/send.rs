//! Sending messages, state and redactions, with per-device transaction-id deduplication.

use ruma::{DeviceId, EventId, OwnedEventId, RoomId, UserId, events::TimelineEventType};
use serde_json::Value as JsonValue;

use super::{EventSpec, Rooms, build::rules_of};
use crate::{
    error::{Error, Result},
    storage::{WriteBatch, compound_key},
};

const USERDEVICETXN_EVENTID: &str = "userdevicetxn_eventid";
const EVENTID_TRANSACTION: &str = "eventid_transaction";

/// Identifies a client transaction: the same id from the same device means the same request.
pub struct Transaction<'a> {
    pub device_id: &'a DeviceId,
    pub txn_id: &'a str,
}

/// The key a transaction is remembered under. A transaction id is scoped to the device and
/// the request path, as the spec says and Synapse does [Complement TestTxnIdempotency]: the
/// same id sent into another room, as another event type, or redacting another event is a new
/// request.
fn transaction_key(
    sender: &UserId,
    transaction: &Transaction<'_>,
    room_id: &RoomId,
    spec: &EventSpec,
) -> Vec<u8> {
    let kind = spec.kind.to_string();
    let redacts = spec.redacts.as_ref().map_or("", |target| target.as_str());
    compound_key(&[
        sender.as_bytes(),
        transaction.device_id.as_bytes(),
        room_id.as_bytes(),
        kind.as_bytes(),
        redacts.as_bytes(),
        transaction.txn_id.as_bytes(),
    ])
}

impl Rooms {
    fn transaction_event(&self, key: &[u8]) -> Result<Option<OwnedEventId>> {
        Ok(self
            .store()
            .get(USERDEVICETXN_EVENTID, key)?
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|id| EventId::parse(id).ok()))
    }

    /// The transaction id an event was sent with, if `device_id` of `user_id` sent it.
    pub fn transaction_id_of(
        &self,
        event_id: &EventId,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> Result<Option<String>> {
        let Some(bytes) = self.store().get(EVENTID_TRANSACTION, event_id.as_bytes())? else {
            return Ok(None);
        };
        let record: (String, String, String) =
            serde_json::from_slice(&bytes).map_err(Error::storage)?;
        Ok((record.0 == user_id.as_str() && record.1 == device_id.as_str()).then_some(record.2))
    }

    /// Sends a message event (or a redaction when `spec.redacts` is set). The same transaction
    /// sent again returns the first event id and sends nothing.
    #[tracing::instrument(skip_all, fields(%room_id, %sender))]
    pub async fn send(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        spec: EventSpec,
        transaction: Option<Transaction<'_>>,
    ) -> Result<OwnedEventId> {
        self.existing_room(room_id)?;
        let lock = self.lock(room_id).await;
        let transaction_key = transaction
            .as_ref()
            .map(|transaction| transaction_key(sender, transaction, room_id, &spec));
        if let Some(key) = &transaction_key
            && let Some(existing) = self.transaction_event(key)?
        {
            return Ok(existing);
        }
        self.check_duplicate_annotation(sender, &spec.content)?;
        if let Some(target) = &spec.redacts {
            self.check_redaction(room_id, sender, target)?;
        }
        let pdu = self
            .append_with(&lock, sender, spec, |pdu| {
                let mut extra = WriteBatch::new();
                if let (Some(transaction), Some(key)) = (&transaction, transaction_key) {
                    extra.put(USERDEVICETXN_EVENTID, key, pdu.event_id.as_bytes().to_vec());
                    let record = (
                        sender.as_str(),
                        transaction.device_id.as_str(),
                        transaction.txn_id,
                    );
                    extra.put_json(
                        EVENTID_TRANSACTION,
                        pdu.event_id.as_bytes().to_vec(),
                        &record,
                    );
                }
                extra
            })
            .await?;
        Ok(pdu.event_id)
    }

    /// Sets room state (`timestamp`: an appservice's `?ts=`). Setting exactly the current
    /// content again sends nothing and returns the current event, as Synapse does.
    pub async fn send_state(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        kind: &str,
        state_key: &str,
        content: JsonValue,
        timestamp: Option<u64>,
    ) -> Result<OwnedEventId> {
        self.existing_room(room_id)?;
        if let Some(current) = self.state_pdu(room_id, kind, state_key)?
            && current.sender == sender
            && current.content_json() == content
        {
            return Ok(current.event_id);
        }
        let lock = self.lock(room_id).await;
        let mut spec = EventSpec::state(TimelineEventType::from(kind), state_key, content);
        spec.timestamp = timestamp;
        let pdu = self.append(&lock, sender, spec).await?;
        Ok(pdu.event_id)
    }

    /// As Synapse's event creation checks a redaction: one of another room is refused; a sender
    /// with the power to redact may redact any event, even one this server has not seen (it
    /// may exist on other servers) [Complement TestFederationRedactSendsWithoutEvent]; others
    /// only their own events, which must be known here.
    fn check_redaction(&self, room_id: &RoomId, sender: &UserId, target: &EventId) -> Result<()> {
        let event = self.pdu(target)?;
        if let Some(event) = &event
            && event.room() != room_id
        {
            return Err(Error::NotFound("Event to redact not found".into()));
        }
        let required = self.power_level_for(room_id, "redact", 50)?;
        if self.user_power_level(room_id, sender)? >= required {
            return Ok(());
        }
        match event {
            None => Err(Error::NotFound("Event to redact not found".into())),
            Some(event) if event.sender != sender => Err(Error::Forbidden(
                "You may only redact your own events".into(),
            )),
            Some(_) => Ok(()),
        }
    }

    /// A user's power level; creators of rooms that privilege them rank above everyone.
    pub fn user_power_level(&self, room_id: &RoomId, user_id: &UserId) -> Result<i64> {
        let info = self.existing_room(room_id)?;
        let rules = rules_of(&info)?;
        if rules.authorization.explicitly_privilege_room_creators {
            let create = self
                .state_pdu(room_id, "m.room.create", "")?
                .ok_or_else(|| Error::Storage("room without create event".into()))?;
            let additional = create
                .content_json()
                .get("additional_creators")
                .cloned()
                .unwrap_or_default();
            let is_additional = additional.as_array().is_some_and(|list| {
                list.iter()
                    .any(|entry| entry.as_str() == Some(user_id.as_str()))
            });
            if create.sender == user_id || is_additional {
                return Ok(i64::MAX);
            }
        }
        let Some(levels) = self.state_pdu(room_id, "m.room.power_levels", "")? else {
            return Ok(if info.creator == user_id { 100 } else { 0 });
        };
        let content = levels.content_json();
        let level = content
            .get("users")
            .and_then(|users| users.get(user_id.as_str()))
            .or_else(|| content.get("users_default"));
        Ok(level.and_then(as_level).unwrap_or(0))
    }

    /// The level a power-levels key (`redact`, `ban`, …) requires.
    pub fn power_level_for(&self, room_id: &RoomId, key: &str, default: i64) -> Result<i64> {
        Ok(self
            .state_pdu(room_id, "m.room.power_levels", "")?
            .and_then(|levels| levels.content_json().get(key).and_then(as_level))
            .unwrap_or(default))
    }
}

/// Power levels are integers, or integer strings in old rooms.
fn as_level(value: &JsonValue) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|text| text.parse().ok()))
}
