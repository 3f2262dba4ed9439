//! Rooms: building, authorizing and persisting events, room state, membership, timelines and the
//! stream positions every reader (sync, federation, appservices) follows.
//!
//! Architecture invariant: code that writes events never calls code that reads them for
//! delivery. Persisting advances the stream position and wakes the notifier; readers follow
//! their own positions.

mod aliases;
mod auth;
mod backfill;
mod blocking;
mod build;
pub mod content_shape;
mod create;
mod delayed;
mod device_lists;
mod directory;
mod erasure;
mod hierarchy;
mod history;
mod ingest;
mod inventory;
mod membership;
mod notifications;
mod pdu;
mod persist;
mod purge;
mod push;
mod relations;
mod remote;
mod remote_join;
mod reports;
mod resolve;
#[cfg(test)]
mod rules_tests;
mod search;
mod send;
mod sliding;
mod snapshots;
mod state;
mod sync;
mod sync_room;
mod thread_subscriptions;
mod timeline;
mod upgrade;
mod user_directory;

use crate::mutex::lock;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use ruma::{OwnedRoomId, OwnedServerName, RoomId, RoomVersionId};
use tokio::sync::OwnedMutexGuard;

pub use self::{
    build::{EventSpec, MAX_PDU_BYTES},
    create::{CreateRoomRequest, Preset},
    delayed::{DelayedAction, DelayedEvent},
    device_lists::DeviceListChanges,
    directory::{DirectoryNetwork, PublicRoom},
    hierarchy::{SpaceChild, Viewer},
    history::HistoryVisibility,
    ingest::{IngestOutcome, RemoteEvent},
    inventory::RoomOverview,
    membership::{MemberProfile, SERVER_MEMBER_KEYS},
    notifications::{ListedNotification, Notification},
    pdu::{PduEvent, event_id_of},
    purge::RoomPurge,
    push::UnreadCounts,
    reports::{Report, ReportTarget},
    search::{SearchKey, SearchPage, SearchRequest},
    send::Transaction,
    sliding::{ListedRoom, RoomWindow},
    snapshots::StateMap,
    state::{Membership, RoomInfo},
    sync::{InvitedRoom, JoinedRoom, LeftRoom, StreamChanges, SyncData, SyncRequest},
    thread_subscriptions::{ThreadSubscription, ThreadSubscriptionRefusal},
    timeline::{Direction, TimelinePage},
    user_directory::DirectoryUser,
};
use crate::{config::Config, keys::ServerKeys, storage::Store, stream::Notifier};

pub use crate::config::SUPPORTED_ROOM_VERSIONS;

/// Proof that the holder has serialised event creation in one room: building an event reads the
/// room's extremities and state, so two builders at once would fork the room needlessly.
pub struct RoomLock {
    room_id: OwnedRoomId,
    _guard: OwnedMutexGuard<()>,
}

impl RoomLock {
    pub fn room_id(&self) -> &RoomId {
        &self.room_id
    }
}

/// The room service. Cheap to clone.
#[derive(Clone)]
pub struct Rooms {
    inner: Arc<RoomsInner>,
}

struct RoomsInner {
    store: Store,
    config: Arc<Config>,
    server_name: OwnedServerName,
    keys: Arc<ServerKeys>,
    locks: Mutex<HashMap<OwnedRoomId, Arc<tokio::sync::Mutex<()>>>>,
    snapshots: snapshots::SnapshotIds,
    notifier: Arc<Notifier>,
    push_rules: crate::users::push_rules::RulesetCache,
    /// Serialises report ids.
    reports: tokio::sync::Mutex<()>,
    erased: erasure::ErasedUsers,
}

impl Rooms {
    pub fn new(
        store: Store,
        config: Arc<Config>,
        keys: Arc<ServerKeys>,
        notifier: Arc<Notifier>,
    ) -> crate::error::Result<Self> {
        let server_name = OwnedServerName::try_from(config.server.name.as_str()).map_err(|_| {
            crate::error::Error::InvalidParam(format!("invalid server name {}", config.server.name))
        })?;
        let snapshots = snapshots::SnapshotIds::load(&store)?;
        let erased = erasure::ErasedUsers::load(&store)?;
        Ok(Self {
            inner: Arc::new(RoomsInner {
                store,
                config,
                server_name,
                keys,
                locks: Mutex::new(HashMap::new()),
                snapshots,
                notifier,
                push_rules: Default::default(),
                reports: tokio::sync::Mutex::new(()),
                erased,
            }),
        })
    }

    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn server_name(&self) -> &OwnedServerName {
        &self.inner.server_name
    }

    pub fn notifier(&self) -> &Notifier {
        &self.inner.notifier
    }

    /// Takes the event-building lock of one room.
    fn reports_lock(&self) -> &tokio::sync::Mutex<()> {
        &self.inner.reports
    }

    pub async fn lock(&self, room_id: &RoomId) -> RoomLock {
        let mutex = {
            let mut locks = lock(&self.inner.locks);
            // Drop locks nobody holds, so the map does not grow with every room ever touched.
            if locks.len() > 1024 {
                locks.retain(|_, mutex| Arc::strong_count(mutex) > 1);
            }
            Arc::clone(locks.entry(room_id.to_owned()).or_default())
        };
        RoomLock {
            room_id: room_id.to_owned(),
            _guard: mutex.lock_owned().await,
        }
    }

    pub fn default_room_version(&self) -> RoomVersionId {
        self.inner.config.rooms.default_room_version.clone()
    }
}
