//! The outbound sender. One task follows the event stream from its own durable position and
//! files every local event (and read receipt) into durable per-destination queues in the same
//! batch that moves the position; one worker per destination drains its queue in transactions
//! of up to 50 PDUs and 100 EDUs, backing off exponentially while the destination is down and
//! starting again as soon as it talks to us. Typing notifications are ephemeral and queue in
//! memory only.

use myelin_core::lock;
use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{Arc, Mutex, atomic::Ordering},
    time::Duration,
};

use myelin_core::{
    Result, Services,
    storage::{WriteBatch, compound_key, split_key},
    stream::{StreamItem, items_after},
    users::KeyUsage,
};
use ruma::{OwnedRoomId, OwnedServerName, OwnedUserId, RoomId, ServerName};
use serde::{Deserialize, Serialize};
use serde_json::{Value as JsonValue, json};
use tokio::sync::{Notify, watch};

use crate::client::FederationClient;

const SENDER_STATE: &str = "federation_sender";
const DESTINATION_QUEUE: &str = "destination_queue";
const POSITION_KEY: &[u8] = b"position";
mod ephemeral;
mod worker;

use worker::Worker;

const MAX_PDUS: usize = 50;
const MAX_EDUS: usize = 100;
const MIN_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// Stream items filed per batch.
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
}

pub struct Sender {
    services: Services,
    client: Arc<FederationClient>,
    destinations: Mutex<HashMap<OwnedServerName, Arc<Destination>>>,
    /// Typing users per room as last sent.
    typing_sent: Mutex<HashMap<OwnedRoomId, BTreeSet<OwnedUserId>>>,
    stopped: watch::Receiver<bool>,
    workers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Sender {
    pub fn new(
        services: Services,
        client: Arc<FederationClient>,
        stopped: watch::Receiver<bool>,
    ) -> Arc<Self> {
        Arc::new(Self {
            services,
            client,
            destinations: Mutex::default(),
            typing_sent: Mutex::default(),
            stopped,
            workers: Mutex::default(),
        })
    }

    fn position(&self) -> Result<u64> {
        Ok(self
            .services
            .store
            .get(SENDER_STATE, POSITION_KEY)?
            .and_then(|bytes| bytes.as_slice().try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(0))
    }

    /// Starts the stream follower and a worker for every destination with a non-empty queue.
    /// On its very first start the sender begins at the current end of the stream: events from
    /// before federation was on are not sent anywhere.
    pub fn start(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        if matches!(
            self.services.store.get(SENDER_STATE, POSITION_KEY),
            Ok(None)
        ) {
            let mut batch = WriteBatch::new();
            batch.put(
                SENDER_STATE,
                POSITION_KEY.to_vec(),
                self.services.notifier.current().to_be_bytes().to_vec(),
            );
            if let Err(error) = self.services.store.apply_now(batch) {
                tracing::error!(%error, "cannot record the federation sender's start");
            }
        }
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
        let this = Arc::clone(self);
        tokio::spawn(async move { this.follow().await })
    }

    async fn follow(self: Arc<Self>) {
        let mut stopped = self.stopped.clone();
        let mut watermark = self.services.notifier.subscribe();
        let mut typing_serial = 0;
        let mut presence_serial = self.services.typing.serial();
        loop {
            if *stopped.borrow() {
                return;
            }
            if let Err(error) = self.file_new_items().await {
                tracing::error!(%error, "federation sender could not read the stream");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            typing_serial = self.file_typing(typing_serial);
            presence_serial = self.file_presence(presence_serial);
            tokio::select! {
                changed = watermark.changed() => if changed.is_err() { return },
                _ = stopped.changed() => {}
                // Typing notifications expire without a stream event.
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
        }
    }

    /// Files stream items after our position into destination queues.
    async fn file_new_items(&self) -> Result<()> {
        loop {
            let position = self.position()?;
            let watermark = self.services.notifier.current();
            if watermark <= position {
                return Ok(());
            }
            // A bounded number of items at a time: after a long pause the backlog can be large.
            let items = items_after(&self.services.store, position, watermark, FILE_STEP)?;
            let until = match items.last() {
                Some((last, _)) if items.len() == FILE_STEP => *last,
                _ => watermark,
            };
            self.file_items(items, until).await?;
        }
    }

    /// Files `items` and moves the sender's position to `until`.
    async fn file_items(&self, items: Vec<(u64, StreamItem)>, watermark: u64) -> Result<()> {
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
        batch.put(
            SENDER_STATE,
            POSITION_KEY.to_vec(),
            watermark.to_be_bytes().to_vec(),
        );
        // Not flushed on its own: losing this batch in a crash loses the position with it, and
        // the items are filed again after the restart (queue keys make that idempotent).
        self.services.store.commit_lazy(batch).await?;
        self.add_queued(filed);
        for destination in woken {
            self.wake(&destination);
        }
        Ok(())
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
        });
        destinations.insert(name.to_owned(), Arc::clone(&state));
        let worker = Worker {
            services: self.services.clone(),
            client: Arc::clone(&self.client),
            name: name.to_owned(),
            state: Arc::clone(&state),
            stopped: self.stopped.clone(),
        };
        lock(&self.workers).push(tokio::spawn(worker.run()));
        state
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
