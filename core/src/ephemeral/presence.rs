//! Presence: online / unavailable / offline, set explicitly or by syncing. Every user's state is
//! kept in memory; a change of a local user's state is also written down (`userid_presence`, read
//! back at startup) with a stream item, from which the federation sender tells the servers that
//! share a room with them, so a crash right after the change loses nothing.

use crate::mutex::lock;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use ruma::{OwnedServerName, OwnedUserId, UserId};

use super::EphemeralSerial;
use crate::{
    clock::now_ms,
    error::Result,
    storage::{Store, WriteBatch},
    stream::{Notifier, PresenceUpdate, StreamItem},
};

/// Local user → their last presence ([`PresenceUpdate`]).
const USERID_PRESENCE: &str = "userid_presence";

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
    store: Store,
    server_name: OwnedServerName,
}

impl Presence {
    /// Starts with the local users' presence as last written down; each must sync again
    /// within the usual timeout to stay online.
    pub fn new(
        enabled: bool,
        serial: EphemeralSerial,
        notifier: Arc<Notifier>,
        store: Store,
        server_name: OwnedServerName,
    ) -> Result<Self> {
        let mut users = HashMap::new();
        let now = now_ms();
        for (_, value) in store.scan_prefix(USERID_PRESENCE, b"", usize::MAX)? {
            let Ok(update) = serde_json::from_slice::<PresenceUpdate>(&value) else {
                continue;
            };
            let Some(state) = PresenceState::parse(&update.presence) else {
                continue;
            };
            users.insert(
                update.user_id,
                Entry {
                    state,
                    status_msg: update.status_msg,
                    last_active: update.last_active_ts,
                    last_sync: now,
                    changed_at: serial.bump(),
                },
            );
        }
        Ok(Self {
            enabled,
            users: Arc::new(Mutex::new(users)),
            serial,
            notifier,
            store,
            server_name,
        })
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<OwnedUserId, Entry>> {
        lock(&self.users)
    }

    /// Applies `change` to the user's entry; returns the new presence if its state or status
    /// message changed.
    fn update(&self, user_id: &UserId, change: impl FnOnce(&mut Entry)) -> Option<PresenceUpdate> {
        if !self.enabled {
            return None;
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
            if before == (entry.state, entry.status_msg.clone()) {
                return None;
            }
            entry.changed_at = self.serial.bump();
            update_of(user_id, entry)
        };
        self.notifier.poke();
        Some(changed)
    }

    /// Writes local users' changes down, each with its stream item.
    async fn record(&self, updates: Vec<PresenceUpdate>) -> Result<()> {
        let local: Vec<PresenceUpdate> = updates
            .into_iter()
            .filter(|update| update.user_id.server_name() == self.server_name)
            .collect();
        if local.is_empty() {
            return Ok(());
        }
        let pending: Vec<_> = local.iter().map(|_| self.notifier.next()).collect();
        let mut batch = WriteBatch::new();
        for (position, update) in pending.iter().zip(&local) {
            batch.put_json(USERID_PRESENCE, update.user_id.as_bytes().to_vec(), update);
            position.record(
                &mut batch,
                &StreamItem::Presence {
                    update: Box::new(update.clone()),
                },
            );
        }
        self.store.commit(batch).await
    }

    /// `PUT /presence/{userId}/status`, and a remote server's `m.presence` EDU.
    pub async fn set(
        &self,
        user_id: &UserId,
        state: PresenceState,
        status_msg: Option<String>,
    ) -> Result<()> {
        let now = now_ms();
        let changed = self.update(user_id, |entry| {
            entry.state = state;
            entry.status_msg = status_msg;
            if state == PresenceState::Online {
                entry.last_active = now;
                entry.last_sync = now;
            }
        });
        self.record(changed.into_iter().collect()).await
    }

    /// A sync with `set_presence`: online marks activity; unavailable sets it; offline leaves
    /// the state alone (the spec's meaning of `set_presence=offline`).
    pub async fn on_sync(&self, user_id: &UserId, set_presence: PresenceState) -> Result<()> {
        let now = now_ms();
        let changed = self.update(user_id, |entry| {
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
        self.record(changed.into_iter().collect()).await
    }

    /// Marks users offline who stopped syncing and unavailable who went idle; called
    /// periodically by the server.
    pub async fn expire_idle(&self) -> Result<()> {
        let now = now_ms();
        let mut changed = Vec::new();
        {
            let mut users = self.lock();
            for (user_id, entry) in users.iter_mut() {
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
                changed.push(update_of(user_id, entry));
            }
        }
        if !changed.is_empty() {
            self.notifier.poke();
        }
        self.record(changed).await
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

fn update_of(user_id: &UserId, entry: &Entry) -> PresenceUpdate {
    PresenceUpdate {
        user_id: user_id.to_owned(),
        presence: entry.state.as_str().to_owned(),
        status_msg: entry.status_msg.clone(),
        last_active_ts: entry.last_active,
    }
}
