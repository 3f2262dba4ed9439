//! Filing: what each stream item means for other servers. Local events go to the servers in
//! their room (a join relayed for another server to it too), receipts, presence and device
//! updates to the servers that share a room with the user, each as a durable queue item in the
//! same batch that moves the sender's position.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, atomic::Ordering},
};

use myelin_core::{Result, follow, storage::WriteBatch, stream::StreamItem, users::KeyUsage};
use ruma::{OwnedServerName, RoomId};
use serde_json::{Value as JsonValue, json};

use super::{QueueItem, Sender, queue, queue_numbered};

impl Sender {
    /// Files `items` into the destination queues: the writes, and what wakes the workers after
    /// their commit.
    pub(super) fn file_items(
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
    pub(super) fn file_device_updates(
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
    pub(super) fn is_new_join(&self, pdu: &myelin_core::rooms::PduEvent) -> bool {
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
    pub(super) fn user_destinations(&self, user_id: &ruma::UserId) -> BTreeSet<OwnedServerName> {
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

    pub(super) fn add_queued(&self, items: usize) {
        self.services
            .metrics
            .federation
            .queue_depth
            .fetch_add(i64::try_from(items).unwrap_or(0), Ordering::Relaxed);
    }

    /// Servers that must receive a local event: those with joined members before or after it,
    /// and the server of a member event's target.
    pub(super) fn event_destinations(
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

    pub(super) fn room_destinations(&self, room_id: &RoomId) -> Result<BTreeSet<OwnedServerName>> {
        let rooms = &self.services.rooms;
        let mut servers = rooms.joined_servers(room_id)?;
        servers.remove(rooms.server_name());
        servers.retain(|server| {
            self.client.policy().server_allowed(server)
                && rooms.server_acl_allows(room_id, server).unwrap_or(true)
        });
        Ok(servers)
    }
}
