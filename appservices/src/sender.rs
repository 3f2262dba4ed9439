//! One appservice's transaction sender. It reads the event stream after its durable position,
//! picks the events the appservice's namespaces make it interested in, and writes them as a
//! pending transaction (with the next transaction id) before sending: a crash or an outage
//! means the same transaction is sent again, which the appservice recognises by its id, so
//! events arrive once and in order. While the appservice is down it backs off exponentially.

use std::sync::Arc;

use myelin_core::{
    Result, Services,
    appservice::Appservice,
    ephemeral::ReceiptType,
    follow,
    ports::BoxFuture,
    rooms::PduEvent,
    storage::{WriteBatch, compound_key},
    stream::StreamItem,
};
use ruma::{UserId, events::TimelineEventType};
use serde::{Deserialize, Serialize};
use serde_json::{Value as JsonValue, json};
use tokio::sync::watch;

/// `(appservice id, field)` → the sender's durable state.
const APPSERVICE_SENDER: &str = "appservice_sender";
/// Stream items read per step, and the most events in one transaction.
const STEP: usize = 100;

/// A transaction written down before it is sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    txn_id: u64,
    events: Vec<JsonValue>,
    /// Typing, receipts and presence, for registrations that ask for them.
    #[serde(default)]
    ephemeral: Vec<JsonValue>,
    /// To-device messages for the appservice's users (MSC2409), with the same opt-in.
    #[serde(default)]
    to_device: Vec<JsonValue>,
    /// MSC3202 (encrypting bridges): users sharing a room with the appservice's users whose
    /// devices or keys changed, and the one-time key counts and unused fallback key types of
    /// the appservice's devices this transaction concerns.
    #[serde(default)]
    device_lists_changed: Vec<ruma::OwnedUserId>,
    #[serde(default)]
    one_time_key_counts: JsonValue,
    #[serde(default)]
    fallback_key_types: JsonValue,
    /// The stream position the sender moves to once the appservice took it.
    until: u64,
}

pub(crate) struct Sender {
    services: Services,
    appservice: Arc<Appservice>,
    http: reqwest::Client,
    stopped: watch::Receiver<bool>,
    /// The ephemeral serial up to which typing and presence were looked at (in memory:
    /// ephemeral data is not replayed after a restart, as in Synapse).
    ephemeral_serial: std::sync::atomic::AtomicU64,
}

impl Sender {
    pub(crate) fn new(
        services: Services,
        appservice: Arc<Appservice>,
        http: reqwest::Client,
        stopped: watch::Receiver<bool>,
    ) -> Self {
        let ephemeral_serial = services.typing.serial().into();
        Self {
            services,
            appservice,
            http,
            stopped,
            ephemeral_serial,
        }
    }

    /// Whether this sender's registration is still the current one (a reload replaces it).
    fn current(&self) -> bool {
        self.services
            .appservices
            .by_id(self.appservice.id())
            .is_some_and(|current| Arc::ptr_eq(&current, &self.appservice))
    }

    fn key(&self, field: &str) -> Vec<u8> {
        compound_key(&[self.appservice.id().as_bytes(), field.as_bytes()])
    }

    fn load<T: serde::de::DeserializeOwned>(&self, field: &str) -> Result<Option<T>> {
        self.services
            .store
            .get_json(APPSERVICE_SENDER, &self.key(field))
    }

    /// Follows the stream through the core's driver until the server stops or a reload
    /// replaces the registration.
    pub(crate) async fn run(self) {
        self.adopt_legacy_position();
        let (store, notifier, registry, stopped) = (
            self.services.store.clone(),
            Arc::clone(&self.services.notifier),
            Arc::clone(&self.services.metrics.followers),
            self.stopped.clone(),
        );
        follow::run(store, notifier, registry, Arc::new(self), stopped).await;
    }

    fn follower_name(&self) -> String {
        format!("appservice:{}", self.appservice.id())
    }

    /// Stores of before the follower driver kept the position with the sender's state: the
    /// driver takes it over.
    fn adopt_legacy_position(&self) {
        let Ok(Some(legacy)) = self.load::<u64>("position") else {
            return;
        };
        let store = &self.services.store;
        let name = self.follower_name();
        let mut batch = WriteBatch::new();
        if matches!(follow::saved_position(store, &name), Ok(None)) {
            follow::save_position(&mut batch, &name, legacy);
        }
        batch.delete(APPSERVICE_SENDER, self.key("position"));
        if let Err(error) = store.apply_now(batch) {
            tracing::error!(%error, "cannot take over an appservice sender's position");
        }
    }

    /// Sends the pending transaction if there is one (a crash or failure cut it), else makes
    /// the next one of `items` (written down before it is sent, so that a retry has the same
    /// id) and sends it. The driver then moves the position past what it carried.
    async fn deliver(&self, items: follow::Items) -> Result<follow::Handled> {
        if let Some(pending) = self.load::<Pending>("pending")? {
            self.send(&pending).await?;
            let mut handled = follow::Handled::reached(pending.until);
            handled
                .writes
                .delete(APPSERVICE_SENDER, self.key("pending"));
            handled.durable = true;
            return Ok(handled);
        }
        let until = items.until;
        let (writes, pending) = self.next_transaction(items).await?;
        let Some(pending) = pending else {
            let mut handled = follow::Handled::reached(until);
            handled.writes = writes;
            return Ok(handled);
        };
        self.send(&pending).await?;
        let mut handled = follow::Handled::reached(pending.until);
        handled
            .writes
            .delete(APPSERVICE_SENDER, self.key("pending"));
        handled.durable = true;
        Ok(handled)
    }

    /// The transaction `items` make (with typing and presence since the last look), written
    /// down as pending; `None` when they concern the appservice in nothing (with the writes
    /// that go with the position then).
    async fn next_transaction(
        &self,
        items: follow::Items,
    ) -> Result<(WriteBatch, Option<Pending>)> {
        let until = items.until;
        let mut ephemeral = self.typing_and_presence()?;
        let items = items.items;
        let mut events = Vec::new();
        let mut to_device_recipients = std::collections::BTreeSet::new();
        let msc3202 = self.appservice.registration.msc3202;
        let mut device_lists_changed = std::collections::BTreeSet::new();
        let mut key_owners = std::collections::BTreeSet::new();
        for (item_position, item) in items {
            if let StreamItem::DeviceKeys { user_id, .. } | StreamItem::SigningKeys { user_id } =
                &item
            {
                if msc3202 && !device_lists_changed.contains(user_id) {
                    if self.appservice.may_act_as(user_id) {
                        key_owners.insert(user_id.clone());
                    }
                    let shares_a_room = self
                        .services
                        .rooms
                        .joined_rooms(user_id)?
                        .iter()
                        .map(|room| self.room_interesting(room))
                        .collect::<Result<Vec<bool>>>()?
                        .into_iter()
                        .any(|interesting| interesting);
                    if shares_a_room {
                        device_lists_changed.insert(user_id.clone());
                    }
                }
                continue;
            }
            if let StreamItem::ToDevice { recipients, .. } = &item {
                if self.appservice.wants_ephemeral() {
                    to_device_recipients.extend(
                        recipients
                            .iter()
                            .filter(|(user, _)| self.appservice.may_act_as(user))
                            .cloned(),
                    );
                }
                continue;
            }
            if let StreamItem::Receipt { receipt } = &item {
                if self.appservice.wants_ephemeral()
                    && receipt.receipt_type == ReceiptType::Read
                    && self.room_interesting(&receipt.room_id)?
                {
                    ephemeral.push(json!({
                        "type": "m.receipt",
                        "room_id": receipt.room_id,
                        "content": { receipt.event_id.as_str(): { "m.read": {
                            receipt.user_id.as_str(): { "ts": receipt.ts },
                        } } },
                    }));
                }
                continue;
            }
            let StreamItem::Event { room_id } = item else {
                continue;
            };
            let Some(pdu) = self
                .services
                .rooms
                .pdu_at_position(&room_id, item_position)?
            else {
                continue;
            };
            if self.interested(&pdu)? {
                events.push(pdu.to_client_event(true));
            }
        }
        let mut batch = WriteBatch::new();
        // Messages to the appservice's devices move into the transaction (and out of their
        // queues) in the batch that records it.
        let mut to_device = Vec::new();
        for (user_id, device_id) in &to_device_recipients {
            for mut message in self
                .services
                .users
                .to_device_messages(user_id, device_id, until)?
            {
                message["to_user_id"] = user_id.as_str().into();
                message["to_device_id"] = device_id.as_str().into();
                to_device.push(message);
            }
            self.services
                .users
                .remove_to_device_into(&mut batch, user_id, device_id, until)?;
        }
        // MSC3202: key counts of the appservice's devices that received to-device messages
        // (claimed keys come with one) or whose keys changed.
        let mut one_time_key_counts = serde_json::Map::new();
        let mut fallback_key_types = serde_json::Map::new();
        if msc3202 {
            let mut devices: std::collections::BTreeSet<(ruma::OwnedUserId, ruma::OwnedDeviceId)> =
                to_device_recipients.iter().cloned().collect();
            for user_id in &key_owners {
                for device in self.services.users.devices(user_id)? {
                    devices.insert((user_id.clone(), device.device_id));
                }
            }
            for (user_id, device_id) in devices {
                let counts = self
                    .services
                    .users
                    .one_time_key_counts(&user_id, &device_id)?;
                let fallback = self
                    .services
                    .users
                    .unused_fallback_key_types(&user_id, &device_id)?;
                one_time_key_counts
                    .entry(user_id.to_string())
                    .or_insert_with(|| json!({}))[device_id.as_str()] = json!(counts);
                fallback_key_types
                    .entry(user_id.to_string())
                    .or_insert_with(|| json!({}))[device_id.as_str()] = json!(fallback);
            }
        }
        if events.is_empty()
            && ephemeral.is_empty()
            && to_device.is_empty()
            && device_lists_changed.is_empty()
            && one_time_key_counts.is_empty()
        {
            return Ok((batch, None));
        }
        let txn_id = self.load::<u64>("next_txn")?.unwrap_or(1);
        let pending = Pending {
            txn_id,
            events,
            ephemeral,
            to_device,
            device_lists_changed: device_lists_changed.into_iter().collect(),
            one_time_key_counts: JsonValue::Object(one_time_key_counts),
            fallback_key_types: JsonValue::Object(fallback_key_types),
            until,
        };
        batch.put_json(APPSERVICE_SENDER, self.key("pending"), &pending);
        batch.put_json(APPSERVICE_SENDER, self.key("next_txn"), &(txn_id + 1));
        self.services.store.commit(batch).await?;
        Ok((WriteBatch::new(), Some(pending)))
    }

    async fn send(&self, pending: &Pending) -> Result<()> {
        // Ephemeral events under the stable key and MSC2409's (which mautrix reads).
        let mut body = json!({
            "events": pending.events,
            "ephemeral": pending.ephemeral,
            "de.sorunome.msc2409.ephemeral": pending.ephemeral,
            "de.sorunome.msc2409.to_device": pending.to_device,
        });
        if self.appservice.registration.msc3202 {
            body["org.matrix.msc3202.device_lists"] =
                json!({ "changed": pending.device_lists_changed, "left": [] });
            body["org.matrix.msc3202.device_one_time_keys_count"] =
                pending.one_time_key_counts.clone();
            body["org.matrix.msc3202.device_unused_fallback_key_types"] =
                pending.fallback_key_types.clone();
        }
        let (status, answer) = crate::call(
            &self.http,
            &self.appservice,
            reqwest::Method::PUT,
            &format!("/_matrix/app/v1/transactions/{}", pending.txn_id),
            Some(&body),
        )
        .await?;
        if !status.is_success() {
            return Err(myelin_core::Error::Unavailable(format!(
                "appservice {} answered transaction {} with {status}: {answer}",
                self.appservice.id(),
                pending.txn_id
            )));
        }
        tracing::debug!(
            appservice = self.appservice.id(),
            txn = pending.txn_id,
            events = pending.events.len(),
            "transaction delivered"
        );
        Ok(())
    }

    /// Typing changes in rooms the appservice is interested in, and presence changes of users
    /// sharing such a room, since the last look (for registrations that ask for them).
    fn typing_and_presence(&self) -> Result<Vec<JsonValue>> {
        use std::sync::atomic::Ordering;
        let since = self.ephemeral_serial.load(Ordering::Relaxed);
        let serial = self.services.typing.serial();
        self.ephemeral_serial.store(serial, Ordering::Relaxed);
        if !self.appservice.wants_ephemeral() || serial == since {
            return Ok(Vec::new());
        }
        let mut ephemeral = Vec::new();
        for room_id in self.services.typing.rooms_changed_since(since) {
            if self.room_interesting(&room_id)? {
                ephemeral.push(json!({
                    "type": "m.typing",
                    "room_id": room_id,
                    "content": { "user_ids": self.services.typing.typing_users(&room_id) },
                }));
            }
        }
        let presence = &self.services.presence;
        if presence.enabled() {
            for user in presence.changed_since(Some(since)) {
                let shares = self
                    .services
                    .rooms
                    .joined_rooms(&user)?
                    .iter()
                    .any(|room_id| self.room_interesting(room_id).unwrap_or(false));
                if !shares {
                    continue;
                }
                let status = presence.status(&user);
                let mut content = json!({
                    "presence": status.state.as_str(),
                    "currently_active": status.currently_active,
                });
                if let Some(ago) = status.last_active_ago {
                    content["last_active_ago"] = ago.into();
                }
                if let Some(message) = &status.status_msg {
                    content["status_msg"] = message.clone().into();
                }
                ephemeral.push(json!({ "type": "m.presence", "sender": user, "content": content }));
            }
        }
        Ok(ephemeral)
    }

    /// Whether a room is the appservice's business: in its room namespace, or with one of its
    /// users joined.
    fn room_interesting(&self, room_id: &ruma::RoomId) -> Result<bool> {
        Ok(self.appservice.room_in_namespace(room_id)
            || self
                .services
                .rooms
                .local_joined_members(room_id)?
                .iter()
                .any(|member| self.appservice.may_act_as(member)))
    }

    /// Whether the appservice wants this event: sent by or about a user in its namespace, in
    /// a room of its namespace or with an alias of it, or in a room where one of its users is.
    fn interested(&self, pdu: &PduEvent) -> Result<bool> {
        let appservice = &self.appservice;
        if appservice.may_act_as(&pdu.sender) {
            return Ok(true);
        }
        if pdu.kind == TimelineEventType::RoomMember
            && let Some(target) = pdu
                .state_key
                .as_deref()
                .and_then(|key| UserId::parse(key).ok())
            && appservice.may_act_as(&target)
        {
            return Ok(true);
        }
        let room_id = &pdu.room();
        if appservice.room_in_namespace(room_id) {
            return Ok(true);
        }
        if let Some(aliases) =
            self.services
                .rooms
                .state_pdu(room_id, "m.room.canonical_alias", "")?
        {
            let content = aliases.content_json();
            let mut names: Vec<&str> = content
                .get("alt_aliases")
                .and_then(JsonValue::as_array)
                .into_iter()
                .flatten()
                .filter_map(JsonValue::as_str)
                .collect();
            names.extend(content.get("alias").and_then(JsonValue::as_str));
            if names.into_iter().any(|alias| {
                ruma::RoomAliasId::parse(alias)
                    .is_ok_and(|alias| appservice.alias_in_namespace(&alias, false))
            }) {
                return Ok(true);
            }
        }
        Ok(self
            .services
            .rooms
            .local_joined_members(room_id)?
            .iter()
            .any(|member| appservice.may_act_as(member)))
    }
}

impl follow::Follower for Sender {
    fn name(&self) -> String {
        self.follower_name()
    }

    fn step(&self) -> usize {
        STEP
    }

    fn active(&self) -> bool {
        self.current()
    }

    fn handle(&self, items: follow::Items) -> BoxFuture<'_, Result<follow::Handled>> {
        Box::pin(self.deliver(items))
    }
}
