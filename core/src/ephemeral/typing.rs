//! Typing notifications: kept in memory with their expiry. Each change bumps the ephemeral
//! serial that `/sync` tokens carry.

use crate::mutex::lock;
use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};
use tokio::time::Instant;

use super::EphemeralSerial;
use crate::stream::Notifier;

/// Longest typing timeout honoured; clients renew long before.
const MAX_TYPING_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Default)]
struct TypingState {
    /// room → user → when the notification expires.
    rooms: HashMap<OwnedRoomId, BTreeMap<OwnedUserId, Instant>>,
    /// room → serial of its last change.
    changed_at: HashMap<OwnedRoomId, u64>,
}

#[derive(Clone)]
pub struct Typing {
    state: Arc<Mutex<TypingState>>,
    serial: EphemeralSerial,
    notifier: Arc<Notifier>,
}

impl Typing {
    pub fn new(serial: EphemeralSerial, notifier: Arc<Notifier>) -> Self {
        Self {
            state: Arc::new(Mutex::new(TypingState::default())),
            serial,
            notifier,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TypingState> {
        lock(&self.state)
    }

    /// The serial of the latest change.
    pub fn serial(&self) -> u64 {
        self.serial.current()
    }

    /// Starts (with a timeout) or stops a user's typing notification.
    pub fn set(&self, room_id: &RoomId, user_id: &UserId, timeout: Option<Duration>) {
        let changed = {
            let mut state = self.lock();
            let users = state.rooms.entry(room_id.to_owned()).or_default();
            let changed = match timeout {
                Some(timeout) => users
                    .insert(
                        user_id.to_owned(),
                        Instant::now() + timeout.min(MAX_TYPING_TIMEOUT),
                    )
                    .is_none(),
                None => users.remove(user_id).is_some(),
            };
            if changed {
                let serial = self.serial.bump();
                state.changed_at.insert(room_id.to_owned(), serial);
            }
            changed
        };
        if changed {
            self.notifier.poke();
        }
        if let Some(timeout) = timeout {
            let typing = self.clone();
            let (room_id, user_id) = (room_id.to_owned(), user_id.to_owned());
            tokio::spawn(async move {
                tokio::time::sleep(timeout.min(MAX_TYPING_TIMEOUT)).await;
                typing.expire(&room_id, &user_id);
            });
        }
    }

    /// Removes the notification if it was not renewed meanwhile.
    fn expire(&self, room_id: &RoomId, user_id: &UserId) {
        let expired = {
            let mut state = self.lock();
            let now = Instant::now();
            let Some(users) = state.rooms.get_mut(room_id) else {
                return;
            };
            let due = users.get(user_id).is_some_and(|expiry| *expiry <= now);
            if due {
                users.remove(user_id);
                let serial = self.serial.bump();
                state.changed_at.insert(room_id.to_owned(), serial);
            }
            due
        };
        if expired {
            self.notifier.poke();
        }
    }

    /// Users typing in a room now.
    pub fn typing_users(&self, room_id: &RoomId) -> Vec<OwnedUserId> {
        let state = self.lock();
        let now = Instant::now();
        state
            .rooms
            .get(room_id)
            .map(|users| {
                users
                    .iter()
                    .filter(|(_, expiry)| **expiry > now)
                    .map(|(user, _)| user.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Rooms whose typing set changed after `since`.
    pub fn rooms_changed_since(&self, since: u64) -> Vec<OwnedRoomId> {
        self.lock()
            .changed_at
            .iter()
            .filter(|(_, serial)| **serial > since)
            .map(|(room, _)| room.clone())
            .collect()
    }

    /// Rooms where someone is typing now.
    pub fn rooms_with_typists(&self) -> Vec<OwnedRoomId> {
        let now = Instant::now();
        self.lock()
            .rooms
            .iter()
            .filter(|(_, users)| users.values().any(|expiry| *expiry > now))
            .map(|(room, _)| room.clone())
            .collect()
    }
}
