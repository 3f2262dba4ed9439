//! Room state at every event, as snapshots: state resolution over forks, authorization of remote
//! events against the state before them, and the federation `state`/`state_ids` answers all
//! need the state at some event, not only the current one.
//!
//! A snapshot is a delta on a parent snapshot (the changed `(type, state_key) → event id`
//! entries); every [`MAX_CHAIN`] deltas a full copy starts a new chain, so reading a snapshot
//! touches at most that many records. Messages share the snapshot of the state before them, so
//! only state events (and state resolutions) create snapshots.

use crate::mutex::lock;
use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, atomic::Ordering},
};

use ruma::{EventId, OwnedEventId, events::StateEventType};
use serde::{Deserialize, Serialize};

use super::Rooms;
use crate::{
    error::{Error, Result},
    storage::{Store, WriteBatch},
};

pub(crate) const SNAPSHOTID_SNAPSHOT: &str = "snapshotid_snapshot";
/// Event → (snapshot before it, snapshot after it), 16 bytes.
pub(crate) const EVENTID_SNAPSHOTS: &str = "eventid_snapshots";

/// Deltas read before a full copy is written.
const MAX_CHAIN: u32 = 48;
/// Full state maps kept in memory.
const CACHE_ENTRIES: usize = 256;

/// `(type, state_key) → event id`.
pub type StateMap = BTreeMap<(String, String), OwnedEventId>;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Snapshot {
    parent: Option<u64>,
    /// Length of the delta chain down to a full copy.
    chain: u32,
    changes: Vec<(String, String, OwnedEventId)>,
}

/// Allocates snapshot ids and caches resolved maps.
pub(crate) struct SnapshotIds {
    next: std::sync::atomic::AtomicU64,
    cache: Mutex<HashMap<u64, Arc<StateMap>>>,
    /// Snapshot → servers with a joined member in it.
    servers: Mutex<HashMap<u64, Arc<std::collections::BTreeSet<ruma::OwnedServerName>>>>,
    /// Snapshot → who push rules are evaluated for (see [`PushAudience`]).
    audiences: Mutex<HashMap<u64, Arc<PushAudience>>>,
}

/// The joined members of a room state that matter to push evaluation: how many there are, and
/// the local ones with the display names their rules match against.
#[derive(Debug, Default)]
pub(crate) struct PushAudience {
    pub(crate) member_count: usize,
    pub(crate) local: Vec<(ruma::OwnedUserId, String)>,
}

impl SnapshotIds {
    pub(crate) fn cached_servers(
        &self,
        snapshot: u64,
    ) -> Option<Arc<std::collections::BTreeSet<ruma::OwnedServerName>>> {
        lock(&self.servers).get(&snapshot).cloned()
    }

    pub(crate) fn cache_servers(
        &self,
        snapshot: u64,
        servers: Arc<std::collections::BTreeSet<ruma::OwnedServerName>>,
    ) {
        let mut cache = lock(&self.servers);
        if cache.len() >= CACHE_ENTRIES * 4 {
            cache.clear();
        }
        cache.insert(snapshot, servers);
    }
}

impl SnapshotIds {
    pub(crate) fn cached_audience(&self, snapshot: u64) -> Option<Arc<PushAudience>> {
        lock(&self.audiences).get(&snapshot).cloned()
    }

    pub(crate) fn cache_audience(&self, snapshot: u64, audience: Arc<PushAudience>) {
        let mut cache = lock(&self.audiences);
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(snapshot, audience);
    }
}

impl SnapshotIds {
    pub(crate) fn load(store: &Store) -> Result<Self> {
        let last = store.range(
            SNAPSHOTID_SNAPSHOT,
            std::ops::Bound::Unbounded,
            std::ops::Bound::Unbounded,
            true,
            1,
        )?;
        let next = match last.first() {
            Some((key, _)) => {
                u64::from_be_bytes(
                    key.as_slice()
                        .try_into()
                        .map_err(|_| Error::Storage("bad snapshot id".into()))?,
                ) + 1
            }
            None => 1,
        };
        Ok(Self {
            next: next.into(),
            cache: Mutex::new(HashMap::new()),
            servers: Mutex::new(HashMap::new()),
            audiences: Mutex::new(HashMap::new()),
        })
    }
}

/// Snapshots written in a batch that is not committed yet, readable by later steps of the same
/// operation.
#[derive(Default)]
pub(crate) struct PendingSnapshots {
    maps: HashMap<u64, Arc<StateMap>>,
}

impl Rooms {
    /// The full state map of a snapshot.
    pub(crate) fn snapshot_map(&self, id: u64) -> Result<Arc<StateMap>> {
        self.snapshot_map_pending(id, &PendingSnapshots::default())
    }

    pub(crate) fn snapshot_map_pending(
        &self,
        id: u64,
        pending: &PendingSnapshots,
    ) -> Result<Arc<StateMap>> {
        if let Some(map) = pending.maps.get(&id) {
            return Ok(Arc::clone(map));
        }
        let ids = &self.inner.snapshots;
        if let Some(map) = lock(&ids.cache).get(&id) {
            return Ok(Arc::clone(map));
        }
        let mut chain = Vec::new();
        let mut next = Some(id);
        let mut base: Option<Arc<StateMap>> = None;
        while let Some(current) = next {
            if current != id
                && let Some(map) = lock(&ids.cache).get(&current)
            {
                base = Some(Arc::clone(map));
                break;
            }
            let snapshot: Snapshot = self
                .store()
                .get_json(SNAPSHOTID_SNAPSHOT, &current.to_be_bytes())?
                .ok_or_else(|| Error::Storage(format!("state snapshot {current} is missing")))?;
            next = snapshot.parent;
            chain.push(snapshot);
        }
        let mut map = base.map(|map| (*map).clone()).unwrap_or_default();
        for snapshot in chain.into_iter().rev() {
            for (kind, key, event_id) in snapshot.changes {
                map.insert((kind, key), event_id);
            }
        }
        let map = Arc::new(map);
        let mut cache = lock(&ids.cache);
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(id, Arc::clone(&map));
        Ok(map)
    }

    /// Writes a snapshot equal to `parent`'s map plus `changes`; returns its id.
    pub(crate) fn write_snapshot(
        &self,
        batch: &mut WriteBatch,
        pending: &mut PendingSnapshots,
        parent: Option<u64>,
        changes: Vec<(String, String, OwnedEventId)>,
    ) -> Result<u64> {
        let id = self.inner.snapshots.next.fetch_add(1, Ordering::Relaxed);
        let (parent_map, parent_chain) = match parent {
            Some(parent) => {
                let map = self.snapshot_map_pending(parent, pending)?;
                let chain = match self
                    .store()
                    .get_json::<Snapshot>(SNAPSHOTID_SNAPSHOT, &parent.to_be_bytes())?
                {
                    Some(snapshot) => snapshot.chain,
                    // Written earlier in this very batch: treat it as deep so a full copy follows.
                    None => MAX_CHAIN,
                };
                (Some(map), chain)
            }
            None => (None, 0),
        };
        let mut map = parent_map.as_deref().cloned().unwrap_or_default();
        for (kind, key, event_id) in &changes {
            map.insert((kind.clone(), key.clone()), event_id.clone());
        }
        let snapshot = if parent.is_none() || parent_chain + 1 >= MAX_CHAIN {
            Snapshot {
                parent: None,
                chain: 0,
                changes: map
                    .iter()
                    .map(|((kind, key), id)| (kind.clone(), key.clone(), id.clone()))
                    .collect(),
            }
        } else {
            Snapshot {
                parent,
                chain: parent_chain + 1,
                changes,
            }
        };
        batch.put_json(SNAPSHOTID_SNAPSHOT, id.to_be_bytes().to_vec(), &snapshot);
        pending.maps.insert(id, Arc::new(map));
        Ok(id)
    }

    /// Writes a full snapshot of `map`.
    pub(crate) fn write_full_snapshot(
        &self,
        batch: &mut WriteBatch,
        pending: &mut PendingSnapshots,
        map: &StateMap,
    ) -> Result<u64> {
        let changes = map
            .iter()
            .map(|((kind, key), id)| (kind.clone(), key.clone(), id.clone()))
            .collect();
        self.write_snapshot(batch, pending, None, changes)
    }

    /// `(before, after)` snapshots of an event in the timeline (not of outliers).
    pub(crate) fn event_snapshots(&self, event_id: &EventId) -> Result<Option<(u64, u64)>> {
        Ok(self
            .store()
            .get(EVENTID_SNAPSHOTS, event_id.as_bytes())?
            .and_then(|bytes| {
                let before = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
                let after = u64::from_be_bytes(bytes.get(8..16)?.try_into().ok()?);
                Some((before, after))
            }))
    }

    pub(crate) fn put_event_snapshots(
        batch: &mut WriteBatch,
        event_id: &EventId,
        before: u64,
        after: u64,
    ) {
        let mut value = before.to_be_bytes().to_vec();
        value.extend_from_slice(&after.to_be_bytes());
        batch.put(EVENTID_SNAPSHOTS, event_id.as_bytes().to_vec(), value);
    }

    /// The room state before an event (what the federation `state_ids` endpoint serves).
    pub fn state_before_event(&self, event_id: &EventId) -> Result<Option<Arc<StateMap>>> {
        match self.event_snapshots(event_id)? {
            Some((before, _)) => Ok(Some(self.snapshot_map(before)?)),
            None => Ok(None),
        }
    }

    /// The room state after an event.
    pub fn state_after_event(&self, event_id: &EventId) -> Result<Option<Arc<StateMap>>> {
        match self.event_snapshots(event_id)? {
            Some((_, after)) => Ok(Some(self.snapshot_map(after)?)),
            None => Ok(None),
        }
    }
}

/// The state map in ruma's shape, for state resolution.
pub(crate) fn to_ruma_map(map: &StateMap) -> ruma::state_res::StateMap<OwnedEventId> {
    map.iter()
        .map(|((kind, key), id)| {
            (
                (StateEventType::from(kind.as_str()), key.clone()),
                id.clone(),
            )
        })
        .collect()
}

pub(crate) fn from_ruma_map(map: ruma::state_res::StateMap<OwnedEventId>) -> StateMap {
    map.into_iter()
        .map(|((kind, key), id)| ((kind.to_string(), key), id))
        .collect()
}
