//! Sliding sync connections: what each connection was sent, remembered per `pos`.
//!
//! A connection is a device's `conn_id`. Each response stores a snapshot (the stream positions
//! it covered and, per room, how far the room was sent and with which settings) under a new
//! `pos`; the next request names the snapshot it continues from. The last few snapshots are
//! kept so a client that retries a request whose answer it never received gets the same
//! starting point. Connections live in memory, as in the Conduit family: after a restart every
//! `pos` is unknown and clients start a new session (`M_UNKNOWN_POS`), as they do on Synapse
//! when a connection expires.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::Instant,
};

use axum::http::StatusCode;
use myelin_core::rooms::{ListedRoom, Membership};
use ruma::{OwnedDeviceId, OwnedRoomId, OwnedUserId};

use crate::ApiError;

/// Snapshots kept per connection: the newest answers a client may still be continuing from.
const SNAPSHOTS_PER_CONNECTION: usize = 3;
/// Connections kept in all; the least recently used goes first.
const MAX_CONNECTIONS: usize = 10_000;

/// A room's settings on a connection: the longest timeline and the union of the state asked
/// for by the lists and subscriptions it is in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RoomConfig {
    pub timeline_limit: usize,
    pub required_state: BTreeSet<(String, String)>,
}

impl RoomConfig {
    pub fn merge(&mut self, timeline_limit: usize, required_state: &[(String, String)]) {
        self.timeline_limit = self.timeline_limit.max(timeline_limit);
        self.required_state.extend(required_state.iter().cloned());
    }
}

/// How a room stands on a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SentRoom {
    /// Stream position up to which the room's timeline was sent.
    pub through: u64,
    pub membership: Membership,
    pub config: RoomConfig,
}

/// What a connection had been sent when a response went out.
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    /// The event stream position the response covered.
    pub events: u64,
    /// The typing serial the response covered.
    pub ephemeral: u64,
    pub rooms: HashMap<OwnedRoomId, SentRoom>,
    /// Each listed room's bump stamp, kept so that only rooms with news are looked at again.
    pub bumps: HashMap<OwnedRoomId, u64>,
    /// Each listed room's filter facts, kept for the same reason.
    pub listed: HashMap<OwnedRoomId, ListedRoom>,
    pub list_counts: BTreeMap<String, usize>,
    /// What the request behind the response asked for (see `fingerprint` in the handler).
    pub fingerprint: u64,
}

struct Connection {
    next: u64,
    snapshots: VecDeque<(u64, Arc<Snapshot>)>,
    used: Instant,
}

type Key = (OwnedUserId, OwnedDeviceId, String);

pub(crate) struct Connections {
    /// Tells this process's `pos` values from an earlier one's.
    epoch: u64,
    connections: Mutex<HashMap<Key, Connection>>,
}

impl Default for Connections {
    fn default() -> Self {
        Self {
            epoch: myelin_core::users::now_ms(),
            connections: Mutex::new(HashMap::new()),
        }
    }
}

impl Connections {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Connection>> {
        self.connections
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The snapshot `pos` names; `None` without `pos` (a new session, which drops the
    /// connection's earlier snapshots). An unknown `pos` is `M_UNKNOWN_POS`.
    pub fn resume(&self, key: &Key, pos: Option<&str>) -> Result<Option<Arc<Snapshot>>, ApiError> {
        let mut connections = self.lock();
        let Some(pos) = pos else {
            connections.remove(key);
            return Ok(None);
        };
        let unknown = || {
            ApiError::http(
                StatusCode::BAD_REQUEST,
                "M_UNKNOWN_POS",
                format!("Unknown position {pos}; start a new sliding sync session"),
            )
        };
        let (epoch, number) = pos.split_once('_').ok_or_else(unknown)?;
        if epoch.parse::<u64>().ok() != Some(self.epoch) {
            return Err(unknown());
        }
        let number: u64 = number.parse().map_err(|_| unknown())?;
        let connection = connections.get_mut(key).ok_or_else(unknown)?;
        connection.used = Instant::now();
        connection
            .snapshots
            .iter()
            .find(|(at, _)| *at == number)
            .map(|(_, snapshot)| Some(snapshot.clone()))
            .ok_or_else(unknown)
    }

    /// Stores the snapshot of a response and returns the `pos` naming it.
    pub fn store(&self, key: Key, snapshot: Snapshot) -> String {
        let mut connections = self.lock();
        if connections.len() >= MAX_CONNECTIONS
            && !connections.contains_key(&key)
            && let Some(oldest) = connections
                .iter()
                .min_by_key(|(_, connection)| connection.used)
                .map(|(key, _)| key.clone())
        {
            connections.remove(&oldest);
        }
        let connection = connections.entry(key).or_insert_with(|| Connection {
            next: 1,
            snapshots: VecDeque::new(),
            used: Instant::now(),
        });
        let number = connection.next;
        connection.next += 1;
        connection.used = Instant::now();
        connection.snapshots.push_back((number, Arc::new(snapshot)));
        while connection.snapshots.len() > SNAPSHOTS_PER_CONNECTION {
            connection.snapshots.pop_front();
        }
        format!("{}_{number}", self.epoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(conn: &str) -> Key {
        (
            "@alice:example.org".try_into().expect("valid user id"),
            "DEVICE".into(),
            conn.into(),
        )
    }

    #[test]
    fn positions_name_their_snapshots_and_old_ones_expire() {
        let connections = Connections::default();
        assert!(
            connections
                .resume(&key("a"), None)
                .expect("new session")
                .is_none()
        );
        let mut positions = Vec::new();
        for events in 1..=5 {
            let snapshot = Snapshot {
                events,
                ..Snapshot::default()
            };
            positions.push(connections.store(key("a"), snapshot));
        }
        // The last three are kept, each with what it covered.
        for (index, pos) in positions.iter().enumerate().skip(2) {
            let snapshot = connections
                .resume(&key("a"), Some(pos))
                .expect("kept")
                .expect("a snapshot");
            assert_eq!(snapshot.events, index as u64 + 1);
        }
        let error = connections.resume(&key("a"), Some(&positions[0]));
        assert!(matches!(
            error,
            Err(ApiError::Http {
                errcode: "M_UNKNOWN_POS",
                ..
            })
        ));
        // Another conn_id has its own positions; a position of another process is unknown.
        assert!(connections.resume(&key("b"), Some(&positions[4])).is_err());
        assert!(connections.resume(&key("a"), Some("1_1")).is_err());
        assert!(connections.resume(&key("a"), Some("garbage")).is_err());
        // Starting over without `pos` drops the old session.
        connections.resume(&key("a"), None).expect("new session");
        assert!(connections.resume(&key("a"), Some(&positions[4])).is_err());
    }
}
