//! Delayed events (MSC4140): events a user schedules now and the server sends later, unless
//! the user cancels, restarts or sends them first. Element Call schedules the end of its call
//! membership this way, restarting the timer while the call runs, so that a client that
//! crashes leaves the call.
//!
//! Durable: a scheduled event is a stored record with an index by due time; the sender loop
//! ([`Rooms::send_due_delayed_events`]) sends it with the delay id as its transaction id, so
//! that a crash between sending and removing the record sends it once all the same.

use ruma::{OwnedDeviceId, OwnedRoomId, OwnedUserId, RoomId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::Value as JsonValue;

use super::{EventSpec, Membership, Rooms, Transaction};
use crate::{
    error::{Error, Result},
    storage::{WriteBatch, compound_key},
};

/// delay id → the scheduled event.
const DELAYID_DELAYED: &str = "delayid_delayed";
/// due time, delay id → nothing: what to send next.
const DUEDELAYID: &str = "duedelayid";
/// user, delay id → nothing: a user's scheduled events.
const USERDELAYID: &str = "userdelayid";

/// The transaction "device" delayed events are sent with (their transaction id is the delay id).
const DELAYED_DEVICE: &str = "org.matrix.msc4140";

/// A scheduled event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DelayedEvent {
    pub delay_id: String,
    pub user_id: OwnedUserId,
    pub device_id: OwnedDeviceId,
    pub room_id: OwnedRoomId,
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_key: Option<String>,
    pub content: JsonValue,
    pub delay_ms: u64,
    /// When the current timer started (ms).
    pub running_since: u64,
}

impl DelayedEvent {
    fn due(&self) -> u64 {
        self.running_since.saturating_add(self.delay_ms)
    }
}

/// What a user may do to a scheduled event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DelayedAction {
    Cancel,
    Restart,
    Send,
}

impl DelayedAction {
    pub fn parse(action: &str) -> Option<Self> {
        match action {
            "cancel" => Some(Self::Cancel),
            "restart" => Some(Self::Restart),
            "send" => Some(Self::Send),
            _ => None,
        }
    }
}

fn due_key(due: u64, delay_id: &str) -> Vec<u8> {
    compound_key(&[&due.to_be_bytes(), delay_id.as_bytes()])
}

fn user_key(user_id: &UserId, delay_id: &str) -> Vec<u8> {
    compound_key(&[user_id.as_bytes(), delay_id.as_bytes()])
}

impl Rooms {
    /// Schedules an event of `user_id` in a room they are joined to, to be sent after
    /// `delay_ms`; returns its delay id. Refused past the configured longest delay
    /// (`M_MAX_DELAY_EXCEEDED`, as MSC4140 names it) or the configured number per user.
    #[allow(clippy::too_many_arguments)]
    pub async fn schedule_delayed_event(
        &self,
        user_id: &UserId,
        device_id: &ruma::DeviceId,
        room_id: &RoomId,
        event_type: &str,
        state_key: Option<String>,
        content: JsonValue,
        delay_ms: u64,
    ) -> Result<String> {
        let config = &self.inner.config.rooms;
        let max_delay_ms = config.max_event_delay_secs.saturating_mul(1000);
        if max_delay_ms == 0 {
            return Err(Error::Unsupported(
                "Delayed events are turned off on this server".into(),
            ));
        }
        if delay_ms > max_delay_ms {
            return Err(Error::MaxDelayExceeded(max_delay_ms));
        }
        self.existing_room(room_id)?;
        if self.membership(room_id, user_id)? != Some(Membership::Join) {
            return Err(Error::Forbidden("You are not in this room".into()));
        }
        let waiting = self
            .store()
            .scan_prefix(
                USERDELAYID,
                &compound_key(&[user_id.as_bytes(), b""]),
                usize::MAX,
            )?
            .len();
        if waiting >= config.max_delayed_events_per_user {
            return Err(Error::InvalidParam(format!(
                "You may have at most {} delayed events waiting",
                config.max_delayed_events_per_user
            )));
        }
        let record = DelayedEvent {
            delay_id: format!("syd_{}", crate::users::random_string(20)),
            user_id: user_id.to_owned(),
            device_id: device_id.to_owned(),
            room_id: room_id.to_owned(),
            event_type: event_type.to_owned(),
            state_key,
            content,
            delay_ms,
            running_since: crate::users::now_ms(),
        };
        let mut batch = WriteBatch::new();
        Self::put_delayed(&mut batch, &record);
        self.store().commit(batch).await?;
        Ok(record.delay_id)
    }

    fn put_delayed(batch: &mut WriteBatch, record: &DelayedEvent) {
        batch.put_json(DELAYID_DELAYED, record.delay_id.as_bytes().to_vec(), record);
        batch.put(
            DUEDELAYID,
            due_key(record.due(), &record.delay_id),
            Vec::new(),
        );
        batch.put(
            USERDELAYID,
            user_key(&record.user_id, &record.delay_id),
            Vec::new(),
        );
    }

    fn remove_delayed(batch: &mut WriteBatch, record: &DelayedEvent) {
        batch.delete(DELAYID_DELAYED, record.delay_id.as_bytes().to_vec());
        batch.delete(DUEDELAYID, due_key(record.due(), &record.delay_id));
        batch.delete(USERDELAYID, user_key(&record.user_id, &record.delay_id));
    }

    fn delayed(&self, delay_id: &str) -> Result<Option<DelayedEvent>> {
        self.store().get_json(DELAYID_DELAYED, delay_id.as_bytes())
    }

    /// A user's scheduled events, soonest first.
    pub fn delayed_events(&self, user_id: &UserId) -> Result<Vec<DelayedEvent>> {
        let prefix = compound_key(&[user_id.as_bytes(), b""]);
        let mut events = Vec::new();
        for (key, _) in self.store().scan_prefix(USERDELAYID, &prefix, usize::MAX)? {
            let delay_id = String::from_utf8_lossy(&key[prefix.len()..]).into_owned();
            if let Some(record) = self.delayed(&delay_id)? {
                events.push(record);
            }
        }
        events.sort_by_key(DelayedEvent::due);
        Ok(events)
    }

    /// One of a user's scheduled events; `NotFound` for others' and unknown ids.
    pub fn delayed_event(&self, user_id: &UserId, delay_id: &str) -> Result<DelayedEvent> {
        self.delayed(delay_id)?
            .filter(|record| record.user_id == user_id)
            .ok_or_else(|| Error::NotFound("No such delayed event".into()))
    }

    /// Cancels, restarts or sends now one of a user's scheduled events.
    pub async fn update_delayed_event(
        &self,
        user_id: &UserId,
        delay_id: &str,
        action: DelayedAction,
    ) -> Result<()> {
        let record = self.delayed_event(user_id, delay_id)?;
        match action {
            DelayedAction::Cancel => {
                let mut batch = WriteBatch::new();
                Self::remove_delayed(&mut batch, &record);
                self.store().commit(batch).await
            }
            DelayedAction::Restart => {
                let mut batch = WriteBatch::new();
                Self::remove_delayed(&mut batch, &record);
                let restarted = DelayedEvent {
                    running_since: crate::users::now_ms(),
                    ..record
                };
                Self::put_delayed(&mut batch, &restarted);
                self.store().commit(batch).await
            }
            DelayedAction::Send => self.send_delayed(&record).await.map(|_| ()),
        }
    }

    /// A state event sent by a user replaces what they scheduled for the same room, type and
    /// state key: those are cancelled (MSC4140).
    pub async fn cancel_delayed_state(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        event_type: &str,
        state_key: &str,
    ) -> Result<()> {
        let mut batch = WriteBatch::new();
        for record in self.delayed_events(user_id)? {
            if record.room_id == room_id
                && record.event_type == event_type
                && record.state_key.as_deref() == Some(state_key)
            {
                Self::remove_delayed(&mut batch, &record);
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
        self.store().commit(batch).await
    }

    /// Sends a scheduled event now and removes its record. An event the room no longer
    /// allows is dropped (and logged): it will not be allowed later either.
    async fn send_delayed(&self, record: &DelayedEvent) -> Result<Option<ruma::OwnedEventId>> {
        let spec = match &record.state_key {
            Some(state_key) => EventSpec::state(
                record.event_type.as_str(),
                state_key,
                record.content.clone(),
            ),
            None => EventSpec::message(record.event_type.as_str(), record.content.clone()),
        };
        let device: OwnedDeviceId = DELAYED_DEVICE.into();
        let transaction = Transaction {
            device_id: &device,
            txn_id: &record.delay_id,
        };
        let sent = self
            .send(&record.room_id, &record.user_id, spec, Some(transaction))
            .await;
        let mut batch = WriteBatch::new();
        Self::remove_delayed(&mut batch, record);
        self.store().commit(batch).await?;
        match sent {
            Ok(event_id) => Ok(Some(event_id)),
            Err(error) => {
                tracing::info!(delay_id = %record.delay_id, %error, "a delayed event could not be sent");
                Err(error)
            }
        }
    }

    /// Sends every scheduled event that is due; returns when the next one is due (ms), if any.
    pub async fn send_due_delayed_events(&self) -> Result<Option<u64>> {
        loop {
            let now = crate::users::now_ms();
            let Some((key, _)) = self
                .store()
                .scan_prefix(DUEDELAYID, &[], 1)?
                .into_iter()
                .next()
            else {
                return Ok(None);
            };
            let due = key
                .get(..8)
                .and_then(|bytes| bytes.try_into().ok())
                .map_or(0, u64::from_be_bytes);
            if due > now {
                return Ok(Some(due));
            }
            let delay_id = String::from_utf8_lossy(&key[9..]).into_owned();
            match self.delayed(&delay_id)? {
                Some(record) => {
                    let _ = self.send_delayed(&record).await;
                }
                None => {
                    // An index entry without its record: drop it.
                    let mut batch = WriteBatch::new();
                    batch.delete(DUEDELAYID, key);
                    self.store().commit(batch).await?;
                }
            }
        }
    }
}
