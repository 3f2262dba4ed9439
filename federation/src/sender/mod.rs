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
    stream::StreamItem,
    users::KeyUsage,
};
use ruma::{OwnedRoomId, OwnedServerName, OwnedUserId, RoomId, ServerName};
use serde::{Deserialize, Serialize};
use serde_json::{Value as JsonValue, json};
use tokio::sync::{Notify, watch};

use crate::client::FederationClient;

const SENDER_STATE: &str = "federation_sender";
const DESTINATION_QUEUE: &str = "destination_queue";
/// Where the sender kept its position before the follower driver (taken over at start).
const LEGACY_POSITION_KEY: &[u8] = b"position";
/// The sender's name as a follower of the stream.
const FOLLOWER_NAME: &str = "federation";
mod ephemeral;
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

    /// Files `items` into the destination queues: the writes, and what wakes the workers after
    /// their commit.
    fn file_items(
        self: &Arc<Self>,
        items: Vec<(u64, StreamItem)>,
        until: u64,
    ) -> Result<follow::Handled> {
        let mut batch = WriteBatch::new();
        let mut woken = BTreeSet::new();
        let own = self.services.rooms.server_name().clone();
        for (item_position, item) in items {
            match item {
                StreamItem::Event { room_id } => {
                    let Some(pdu) = self
                        .services
                        .rooms
                        .pdu_at_position(&room_id, item_position)?
                    else {
                        continue;
                    };
                    if pdu.sender.server_name() != own {
                        // Another server's join, leave or knock this server took in as the
                        // resident goes to the room's other servers.
                        if let Some(origin) = self.services.rooms.relayed_from(&pdu.event_id)? {
                            let mut destinations =
                                self.event_destinations(&pdu).unwrap_or_default();
                            destinations.remove(&origin);
                            for destination in destinations {
                                queue(
                                    &mut batch,
                                    &destination,
                                    item_position,
                                    &QueueItem::Pdu {
                                        event_id: pdu.event_id.clone(),
                                    },
                                );
                                woken.insert(destination);
                            }
                        }
                        continue;
                    }
                    // One unreadable event must not stop the stream for everyone.
                    let destinations = self.event_destinations(&pdu).unwrap_or_else(|error| {
                        let event_id = &pdu.event_id;
                        tracing::error!(%event_id, %error, "cannot tell where an event goes");
                        BTreeSet::new()
                    });
                    // A local user who joins: the room's servers hear of their devices, so that
                    // they can encrypt for them at once [Complement
                    // TestDeviceListsUpdateOverFederationOnRoomJoin].
                    if self.is_new_join(&pdu) {
                        let devices: Vec<(ruma::OwnedDeviceId, bool)> = self
                            .services
                            .users
                            .devices(&pdu.sender)
                            .unwrap_or_default()
                            .into_iter()
                            .map(|device| (device.device_id, false))
                            .collect();
                        let others: BTreeSet<OwnedServerName> = destinations
                            .iter()
                            .filter(|server| **server != own)
                            .cloned()
                            .collect();
                        self.file_device_updates(
                            &mut batch,
                            &mut woken,
                            &pdu.sender,
                            &devices,
                            &others,
                            item_position,
                        );
                    }
                    if self
                        .services
                        .rooms
                        .sent_by_handshake(&pdu.event_id)
                        .unwrap_or(false)
                    {
                        continue;
                    }
                    for destination in destinations {
                        queue(
                            &mut batch,
                            &destination,
                            item_position,
                            &QueueItem::Pdu {
                                event_id: pdu.event_id.clone(),
                            },
                        );
                        woken.insert(destination);
                    }
                }
                StreamItem::Receipt { receipt } => {
                    if receipt.user_id.server_name() != own
                        || receipt.receipt_type != myelin_core::ephemeral::ReceiptType::Read
                    {
                        continue;
                    }
                    let mut data = json!({ "ts": receipt.ts });
                    if let Some(thread) = &receipt.thread_id {
                        data["thread_id"] = thread.clone().into();
                    }
                    let edu = json!({
                        "edu_type": "m.receipt",
                        "content": { receipt.room_id.as_str(): { "m.read": { receipt.user_id.as_str(): {
                            "event_ids": [receipt.event_id],
                            "data": data,
                        } } } },
                    });
                    let destinations =
                        self.room_destinations(&receipt.room_id)
                            .unwrap_or_else(|error| {
                                tracing::error!(%error, "cannot tell where a receipt goes");
                                BTreeSet::new()
                            });
                    for destination in destinations {
                        queue(
                            &mut batch,
                            &destination,
                            item_position,
                            &QueueItem::Edu { edu: edu.clone() },
                        );
                        woken.insert(destination);
                    }
                }
                StreamItem::ToDevice {
                    remote: Some(remote),
                    ..
                } => {
                    // One `m.direct_to_device` EDU per server, with its users' messages.
                    let mut by_server: BTreeMap<
                        OwnedServerName,
                        serde_json::Map<String, JsonValue>,
                    > = BTreeMap::new();
                    for (user_id, devices) in &remote.messages {
                        by_server
                            .entry(user_id.server_name().to_owned())
                            .or_default()
                            .insert(user_id.to_string(), json!(devices));
                    }
                    for (destination, messages) in by_server {
                        if destination == own || !self.client.policy().server_allowed(&destination)
                        {
                            continue;
                        }
                        let edu = json!({
                            "edu_type": "m.direct_to_device",
                            "content": {
                                "sender": remote.sender,
                                "type": remote.kind,
                                "message_id": remote.message_id,
                                "messages": messages,
                            },
                        });
                        queue(
                            &mut batch,
                            &destination,
                            item_position,
                            &QueueItem::Edu { edu },
                        );
                        woken.insert(destination);
                    }
                }
                StreamItem::Presence { update } => {
                    if update.user_id.server_name() != own {
                        continue;
                    }
                    // `last_active_ago` is reckoned when filed: a queue held up by an outage
                    // sends how long ago it was then (Synapse's catch-up sends it as stored).
                    let mut content = json!({
                        "user_id": update.user_id,
                        "presence": update.presence,
                        "currently_active": update.presence == "online",
                        "last_active_ago": myelin_core::clock::now_ms()
                            .saturating_sub(update.last_active_ts),
                    });
                    if let Some(message) = &update.status_msg {
                        content["status_msg"] = message.clone().into();
                    }
                    let edu = json!({ "edu_type": "m.presence", "content": { "push": [content] } });
                    for destination in self.user_destinations(&update.user_id) {
                        queue(
                            &mut batch,
                            &destination,
                            item_position,
                            &QueueItem::Edu { edu: edu.clone() },
                        );
                        woken.insert(destination);
                    }
                }
                StreamItem::AccountData { .. }
                | StreamItem::Membership { .. }
                | StreamItem::ToDevice { .. } => {}
                StreamItem::SigningKeys { user_id } => {
                    if user_id.server_name() != own {
                        continue;
                    }
                    let users = &self.services.users;
                    let mut content = json!({ "user_id": user_id });
                    for (field, usage) in [
                        ("master_key", KeyUsage::Master),
                        ("self_signing_key", KeyUsage::SelfSigning),
                    ] {
                        if let Ok(Some(key)) = users.cross_signing_key(&user_id, usage, None) {
                            content[field] = key;
                        }
                    }
                    let edu = json!({ "edu_type": "m.signing_key_update", "content": content });
                    for destination in self.user_destinations(&user_id) {
                        queue(
                            &mut batch,
                            &destination,
                            item_position,
                            &QueueItem::Edu { edu: edu.clone() },
                        );
                        woken.insert(destination);
                    }
                }
                StreamItem::DeviceKeys { user_id, devices } => {
                    if user_id.server_name() != own || devices.is_empty() {
                        continue;
                    }
                    // Servers sharing a room with the user hear of each changed device.
                    let destinations = self.user_destinations(&user_id);
                    self.file_device_updates(
                        &mut batch,
                        &mut woken,
                        &user_id,
                        &devices,
                        &destinations,
                        item_position,
                    );
                }
            }
        }
        let filed = batch.len();
        let this = Arc::clone(self);
        Ok(follow::Handled {
            writes: batch,
            reached: until,
            // Not flushed on its own: losing this batch in a crash loses the position with
            // it, and the items are filed again after the restart (queue keys make that
            // idempotent).
            durable: false,
            then: Some(Box::new(move || {
                this.add_queued(filed);
                for destination in woken {
                    this.wake(&destination);
                }
            })),
        })
    }

    /// Files one `m.device_list_update` EDU per device for each destination.
    fn file_device_updates(
        &self,
        batch: &mut WriteBatch,
        woken: &mut BTreeSet<OwnedServerName>,
        user_id: &ruma::UserId,
        devices: &[(ruma::OwnedDeviceId, bool)],
        destinations: &BTreeSet<OwnedServerName>,
        item_position: u64,
    ) {
        if devices.is_empty() || destinations.is_empty() {
            return;
        }
        let keys = self
            .services
            .users
            .device_keys(user_id, &[])
            .unwrap_or_default();
        for (sequence, (device_id, deleted)) in devices.iter().enumerate() {
            let mut content = json!({
                "user_id": user_id,
                "device_id": device_id,
                "stream_id": item_position,
                "prev_id": [],
                "deleted": deleted,
            });
            if let Some(device_keys) = keys.get(device_id.as_str()) {
                content["keys"] = device_keys.clone();
            }
            let edu = json!({ "edu_type": "m.device_list_update", "content": content });
            for destination in destinations {
                queue_numbered(
                    batch,
                    destination,
                    item_position,
                    sequence,
                    &QueueItem::Edu { edu: edu.clone() },
                );
                woken.insert(destination.clone());
            }
        }
    }

    /// Whether `pdu` is a user's own join that changes their membership (not a profile
    /// change of someone already joined).
    fn is_new_join(&self, pdu: &myelin_core::rooms::PduEvent) -> bool {
        let membership = |event: &myelin_core::rooms::PduEvent| {
            event
                .content_json()
                .get("membership")
                .and_then(JsonValue::as_str)
                .map(str::to_owned)
        };
        pdu.kind == ruma::events::TimelineEventType::RoomMember
            && pdu.state_key.as_deref() == Some(pdu.sender.as_str())
            && membership(pdu).as_deref() == Some("join")
            && self
                .services
                .rooms
                .replaced_state(&pdu.event_id)
                .ok()
                .flatten()
                .is_none_or(|previous| membership(&previous).as_deref() != Some("join"))
    }

    /// Servers sharing a room with a local user.
    fn user_destinations(&self, user_id: &ruma::UserId) -> BTreeSet<OwnedServerName> {
        let mut destinations = BTreeSet::new();
        for room_id in self
            .services
            .rooms
            .joined_rooms(user_id)
            .unwrap_or_default()
        {
            destinations.extend(self.room_destinations(&room_id).unwrap_or_default());
        }
        destinations
    }

    fn add_queued(&self, items: usize) {
        self.services
            .metrics
            .federation
            .queue_depth
            .fetch_add(i64::try_from(items).unwrap_or(0), Ordering::Relaxed);
    }

    /// Servers that must receive a local event: those with joined members before or after it,
    /// and the server of a member event's target.
    fn event_destinations(
        &self,
        pdu: &myelin_core::rooms::PduEvent,
    ) -> Result<BTreeSet<OwnedServerName>> {
        let rooms = &self.services.rooms;
        let mut servers = rooms.joined_servers_at(&pdu.event_id)?;
        for prev in &pdu.prev_events {
            servers.extend(rooms.joined_servers_at(prev)?);
        }
        if pdu.kind == ruma::events::TimelineEventType::RoomMember
            && let Some(target) = pdu
                .state_key
                .as_deref()
                .and_then(|key| ruma::UserId::parse(key).ok())
        {
            servers.insert(target.server_name().to_owned());
        }
        servers.remove(rooms.server_name());
        let room_id = pdu.room();
        servers.retain(|server| {
            self.client.policy().server_allowed(server)
                && rooms.server_acl_allows(&room_id, server).unwrap_or(true)
        });
        Ok(servers)
    }

    fn room_destinations(&self, room_id: &RoomId) -> Result<BTreeSet<OwnedServerName>> {
        let rooms = &self.services.rooms;
        let mut servers = rooms.joined_servers(room_id)?;
        servers.remove(rooms.server_name());
        servers.retain(|server| {
            self.client.policy().server_allowed(server)
                && rooms.server_acl_allows(room_id, server).unwrap_or(true)
        });
        Ok(servers)
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
