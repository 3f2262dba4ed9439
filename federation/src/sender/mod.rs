//! The outbound sender. One task follows the event stream from its own durable position and
//! files every local event (and read receipt) into durable per-destination queues in the same
//! batch that moves the position; one worker per destination drains its queue in transactions
//! of up to 50 PDUs and 100 EDUs, backing off exponentially while the destination is down and
//! starting again as soon as it talks to us. Typing notifications are ephemeral and queue in
//! memory only.

use myelin_core::lock;
use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use myelin_core::{
    Result, Services, follow,
    ports::BoxFuture,
    storage::{WriteBatch, compound_key, split_key},
};
use ruma::{OwnedRoomId, OwnedServerName, OwnedUserId, ServerName};
use serde::{Deserialize, Serialize};
use serde_json::Value as JsonValue;
use tokio::sync::{Notify, watch};

use crate::client::FederationClient;

const SENDER_STATE: &str = "federation_sender";
const DESTINATION_QUEUE: &str = "destination_queue";
/// Where the sender kept its position before the follower driver (taken over at start).
const LEGACY_POSITION_KEY: &[u8] = b"position";
/// The sender's name as a follower of the stream.
const FOLLOWER_NAME: &str = "federation";
mod ephemeral;
mod filing;
mod worker;

use worker::Worker;

const MAX_PDUS: usize = 50;
const MAX_EDUS: usize = 100;
const MIN_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// Stream items filed per step.
const FILE_STEP: usize = 1000;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum QueueItem {
    Pdu { event_id: ruma::OwnedEventId },
    Edu { edu: JsonValue },
}

struct Destination {
    wake: Notify,
    /// Set when the destination talked to us: skip the rest of the backoff.
    up: std::sync::atomic::AtomicBool,
    ephemeral: Mutex<Vec<JsonValue>>,
    /// What the administrators' `destinations` show.
    status: Mutex<Status>,
}

/// A destination's failures and progress (ms since the epoch; 0 for never).
#[derive(Debug, Clone, Copy, Default)]
struct Status {
    failure_ts: u64,
    retry_last_ts: u64,
    retry_interval: u64,
    last_position: Option<u64>,
}

pub struct Sender {
    services: Services,
    client: Arc<FederationClient>,
    destinations: Mutex<HashMap<OwnedServerName, Arc<Destination>>>,
    /// Typing users per room as last sent.
    typing_sent: Mutex<HashMap<OwnedRoomId, BTreeSet<OwnedUserId>>>,
    stopped: watch::Receiver<bool>,
    workers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// The ephemeral serial up to which typing was filed.
    typing_serial: AtomicU64,
    /// Itself, for the work that runs after a commit.
    myself: std::sync::Weak<Sender>,
}

impl Sender {
    pub fn new(
        services: Services,
        client: Arc<FederationClient>,
        stopped: watch::Receiver<bool>,
    ) -> Arc<Self> {
        Arc::new_cyclic(|myself| Self {
            services,
            client,
            destinations: Mutex::default(),
            typing_sent: Mutex::default(),
            stopped,
            workers: Mutex::default(),
            typing_serial: AtomicU64::new(0),
            myself: myself.clone(),
        })
    }

    /// Starts the stream follower and a worker for every destination with a non-empty queue.
    /// On its very first start the sender begins at the current end of the stream: events from
    /// before federation was on are not sent anywhere.
    pub fn start(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        self.adopt_legacy_position();
        // Queues left from before a restart.
        if let Ok(rows) = self
            .services
            .store
            .scan_prefix(DESTINATION_QUEUE, b"", usize::MAX)
        {
            self.add_queued(rows.len());
            let pending: BTreeSet<OwnedServerName> = rows
                .iter()
                .filter_map(|(key, _)| {
                    let parts = split_key(key);
                    std::str::from_utf8(parts.first()?)
                        .ok()
                        .and_then(|name| OwnedServerName::try_from(name).ok())
                })
                .collect();
            for destination in pending {
                self.wake(&destination);
            }
        }
        tokio::spawn(follow::run(
            self.services.store.clone(),
            Arc::clone(&self.services.notifier),
            Arc::clone(&self.services.metrics.followers),
            Arc::clone(self),
            self.stopped.clone(),
        ))
    }

    fn myself(&self) -> Arc<Self> {
        self.myself
            .upgrade()
            .expect("the sender runs while it exists")
    }

    /// Stores of before the follower driver kept the sender's position under a key of its
    /// own: the driver takes it over.
    fn adopt_legacy_position(&self) {
        let store = &self.services.store;
        let Ok(Some(bytes)) = store.get(SENDER_STATE, LEGACY_POSITION_KEY) else {
            return;
        };
        let Ok(legacy) = <[u8; 8]>::try_from(bytes.as_slice()).map(u64::from_be_bytes) else {
            return;
        };
        let mut batch = WriteBatch::new();
        if matches!(follow::saved_position(store, FOLLOWER_NAME), Ok(None)) {
            follow::save_position(&mut batch, FOLLOWER_NAME, legacy);
        }
        batch.delete(SENDER_STATE, LEGACY_POSITION_KEY.to_vec());
        if let Err(error) = store.apply_now(batch) {
            tracing::error!(%error, "cannot take over the federation sender's position");
        }
    }

    /// The destination's state, with a worker started for it on first use.
    fn destination(&self, name: &ServerName) -> Arc<Destination> {
        let mut destinations = lock(&self.destinations);
        if let Some(state) = destinations.get(name) {
            return Arc::clone(state);
        }
        let state = Arc::new(Destination {
            wake: Notify::new(),
            up: false.into(),
            ephemeral: Mutex::default(),
            status: Mutex::default(),
        });
        destinations.insert(name.to_owned(), Arc::clone(&state));
        let worker = Worker {
            services: self.services.clone(),
            client: Arc::clone(&self.client),
            name: name.to_owned(),
            state: Arc::clone(&state),
            stopped: self.stopped.clone(),
            catching_up: false,
        };
        lock(&self.workers).push(tokio::spawn(worker.run()));
        state
    }

    /// Every destination known since this start or with items queued, with its status.
    pub fn destinations(&self) -> Vec<myelin_core::ports::DestinationStatus> {
        let mut queued: HashMap<OwnedServerName, usize> = HashMap::new();
        for (key, _) in self
            .services
            .store
            .scan_prefix(DESTINATION_QUEUE, b"", usize::MAX)
            .unwrap_or_default()
        {
            let name = split_key(&key)
                .first()
                .and_then(|name| std::str::from_utf8(name).ok())
                .and_then(|name| OwnedServerName::try_from(name).ok());
            if let Some(name) = name {
                *queued.entry(name).or_default() += 1;
            }
        }
        let known: Vec<(OwnedServerName, Arc<Destination>)> = lock(&self.destinations)
            .iter()
            .map(|(name, state)| (name.clone(), Arc::clone(state)))
            .collect();
        let mut all: BTreeMap<OwnedServerName, myelin_core::ports::DestinationStatus> =
            BTreeMap::new();
        for (name, state) in known {
            let status = *lock(&state.status);
            all.insert(
                name.clone(),
                myelin_core::ports::DestinationStatus {
                    destination: name,
                    failure_ts: (status.failure_ts > 0).then_some(status.failure_ts),
                    retry_last_ts: status.retry_last_ts,
                    retry_interval: status.retry_interval,
                    last_successful_stream_ordering: status.last_position,
                    queued: 0,
                },
            );
        }
        for (name, count) in queued {
            all.entry(name.clone())
                .or_insert_with(|| myelin_core::ports::DestinationStatus {
                    destination: name,
                    failure_ts: None,
                    retry_last_ts: 0,
                    retry_interval: 0,
                    last_successful_stream_ordering: None,
                    queued: 0,
                })
                .queued = count;
        }
        all.into_values().collect()
    }

    /// Ends a destination's backoff (an administrator's `reset_connection`).
    pub fn reset_connection(&self, name: &ServerName) -> bool {
        let known = lock(&self.destinations).contains_key(name);
        if !known {
            return false;
        }
        self.destination_is_up(name);
        true
    }

    /// Ends every destination worker (the server is stopping).
    pub async fn stop(&self) {
        let workers: Vec<_> = lock(&self.workers).drain(..).collect();
        for worker in &workers {
            worker.abort();
        }
        for worker in workers {
            let _ = worker.await;
        }
    }

    fn wake(&self, name: &ServerName) {
        self.destination(name).wake.notify_one();
    }

    /// The destination reached us: whatever waits for it goes now.
    pub fn destination_is_up(&self, name: &ServerName) {
        self.client.destination_is_up(name);
        let state = lock(&self.destinations).get(name).cloned();
        if let Some(state) = state {
            state.up.store(true, std::sync::atomic::Ordering::Relaxed);
            state.wake.notify_one();
        }
    }
}

/// The sender follows the stream through the core's driver: each step files the items into
/// the destination queues; typing, kept in memory, is looked at on every step and every few
/// seconds (it expires without a stream item).
impl follow::Follower for Sender {
    fn name(&self) -> String {
        FOLLOWER_NAME.into()
    }

    fn step(&self) -> usize {
        FILE_STEP
    }

    fn tick(&self) -> Option<Duration> {
        Some(Duration::from_secs(5))
    }

    fn handle(&self, items: follow::Items) -> BoxFuture<'_, Result<follow::Handled>> {
        Box::pin(async move {
            let this = self.myself();
            let handled = this.file_items(items.items, items.until)?;
            let typing = this.typing_serial.load(Ordering::Relaxed);
            this.typing_serial
                .store(this.file_typing(typing), Ordering::Relaxed);
            Ok(handled)
        })
    }
}

/// Like [`queue`], for several items filed at one position.
fn queue_numbered(
    batch: &mut WriteBatch,
    destination: &ServerName,
    position: u64,
    sequence: usize,
    item: &QueueItem,
) {
    let sequence = u32::try_from(sequence).unwrap_or(u32::MAX).to_be_bytes();
    batch.put_json(
        DESTINATION_QUEUE,
        compound_key(&[
            destination.as_bytes(),
            &position.to_be_bytes(),
            b"e",
            &sequence,
        ]),
        item,
    );
}

fn queue(batch: &mut WriteBatch, destination: &ServerName, position: u64, item: &QueueItem) {
    let kind: &[u8] = match item {
        QueueItem::Pdu { .. } => b"p",
        QueueItem::Edu { .. } => b"e",
    };
    batch.put_json(
        DESTINATION_QUEUE,
        compound_key(&[destination.as_bytes(), &position.to_be_bytes(), kind]),
        item,
    );
}
