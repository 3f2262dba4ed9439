//! Presence: online / unavailable / offline, set explicitly or by syncing, kept in memory (as
//! with typing, a restart forgets it until clients sync again).

use crate::mutex::lock;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use ruma::{OwnedUserId, UserId};

use super::EphemeralSerial;
use crate::{clock::now_ms, stream::Notifier};

/// A client that has not synced for this long is offline (Synapse's `SYNC_ONLINE_TIMEOUT`).
const SYNC_TIMEOUT_MS: u64 = 30_000;
/// An online user with no activity for this long becomes unavailable (Synapse's `IDLE_TIMER`).
const IDLE_TIMEOUT_MS: u64 = 5 * 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceState {
    Online,
    Unavailable,
    Offline,
}

impl PresenceState {
    pub fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "online" => Self::Online,
            "unavailable" => Self::Unavailable,
            "offline" => Self::Offline,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Unavailable => "unavailable",
            Self::Offline => "offline",
        }
    }
}

/// What clients see of a user's presence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceStatus {
    pub state: PresenceState,
    pub status_msg: Option<String>,
    pub last_active_ago: Option<u64>,
    pub currently_active: bool,
}

#[derive(Debug, Clone)]
struct Entry {
    state: PresenceState,
    status_msg: Option<String>,
    last_active: u64,
    last_sync: u64,
    changed_at: u64,
}

#[derive(Clone)]
pub struct Presence {
    enabled: bool,
    users: Arc<Mutex<HashMap<OwnedUserId, Entry>>>,
    serial: EphemeralSerial,
    notifier: Arc<Notifier>,
}

impl Presence {
    pub fn new(enabled: bool, serial: EphemeralSerial, notifier: Arc<Notifier>) -> Self {
        Self {
            enabled,
            users: Arc::default(),
            serial,
            notifier,
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<OwnedUserId, Entry>> {
        lock(&self.users)
    }

    fn update(&self, user_id: &UserId, change: impl FnOnce(&mut Entry)) {
        if !self.enabled {
            return;
        }
        let changed = {
            let mut users = self.lock();
            let entry = users.entry(user_id.to_owned()).or_insert(Entry {
                state: PresenceState::Offline,
                status_msg: None,
                last_active: 0,
                last_sync: 0,
                changed_at: 0,
            });
            let before = (entry.state, entry.status_msg.clone());
            change(entry);
            let changed = before != (entry.state, entry.status_msg.clone());
            if changed {
                entry.changed_at = self.serial.bump();
            }
            changed
        };
        if changed {
            self.notifier.poke();
        }
    }

    /// `PUT /presence/{userId}/status`.
    pub fn set(&self, user_id: &UserId, state: PresenceState, status_msg: Option<String>) {
        let now = now_ms();
        self.update(user_id, |entry| {
            entry.state = state;
            entry.status_msg = status_msg;
            if state == PresenceState::Online {
                entry.last_active = now;
                entry.last_sync = now;
            }
        });
    }

    /// A sync with `set_presence`: online marks activity; unavailable sets it; offline leaves
    /// the state alone (the spec's meaning of `set_presence=offline`).
    pub fn on_sync(&self, user_id: &UserId, set_presence: PresenceState) {
        let now = now_ms();
        self.update(user_id, |entry| {
            entry.last_sync = now;
            match set_presence {
                PresenceState::Online => {
                    entry.state = PresenceState::Online;
                    entry.last_active = now;
                }
                PresenceState::Unavailable => entry.state = PresenceState::Unavailable,
                PresenceState::Offline => {}
            }
        });
    }

    /// Marks users offline who stopped syncing and unavailable who went idle; called
    /// periodically by the server.
    pub fn expire_idle(&self) {
        let now = now_ms();
        let mut changed = false;
        {
            let mut users = self.lock();
            for entry in users.values_mut() {
                let next = if entry.state != PresenceState::Offline
                    && now.saturating_sub(entry.last_sync) > SYNC_TIMEOUT_MS
                {
                    PresenceState::Offline
                } else if entry.state == PresenceState::Online
                    && now.saturating_sub(entry.last_active) > IDLE_TIMEOUT_MS
                {
                    PresenceState::Unavailable
                } else {
                    continue;
                };
                entry.state = next;
                entry.changed_at = self.serial.bump();
                changed = true;
            }
        }
        if changed {
            self.notifier.poke();
        }
    }

    pub fn status(&self, user_id: &UserId) -> PresenceStatus {
        let now = now_ms();
        match self.lock().get(user_id) {
            Some(entry) => PresenceStatus {
                state: entry.state,
                status_msg: entry.status_msg.clone(),
                last_active_ago: (entry.last_active > 0)
                    .then(|| now.saturating_sub(entry.last_active)),
                currently_active: entry.state == PresenceState::Online
                    && now.saturating_sub(entry.last_active) < 60_000,
            },
            None => PresenceStatus {
                state: PresenceState::Offline,
                status_msg: None,
                last_active_ago: None,
                currently_active: false,
            },
        }
    }

    /// Users whose presence changed after `since` (all known users when `None`).
    pub fn changed_since(&self, since: Option<u64>) -> Vec<OwnedUserId> {
        self.lock()
            .iter()
            .filter(|(_, entry)| since.is_none_or(|since| entry.changed_at > since))
            .map(|(user, _)| user.clone())
            .collect()
    }
}
