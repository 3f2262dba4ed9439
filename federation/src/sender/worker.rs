//! One worker per destination: drains its durable queue (and ephemeral EDUs) in transactions,
//! backing off while the destination is down.

use std::sync::{Arc, atomic::Ordering};

use myelin_core::{
    Error, Result, Services,
    follow::Backoff,
    storage::{WriteBatch, compound_key},
    users::now_ms,
};
use ruma::{
    MilliSecondsSinceUnixEpoch, OwnedServerName, OwnedTransactionId,
    api::federation::transactions::send_transaction_message, serde::Raw,
};
use serde_json::{Value as JsonValue, value::RawValue};
use tokio::sync::watch;

use super::{
    DESTINATION_QUEUE, Destination, MAX_BACKOFF, MAX_EDUS, MAX_PDUS, MIN_BACKOFF, QueueItem, lock,
};
use crate::client::FederationClient;

pub(super) struct Worker {
    pub(super) services: Services,
    pub(super) client: Arc<FederationClient>,
    pub(super) name: OwnedServerName,
    pub(super) state: Arc<Destination>,
    pub(super) stopped: watch::Receiver<bool>,
    /// Sending what queued up while the destination was down.
    pub(super) catching_up: bool,
}

impl Worker {
    pub(super) async fn run(mut self) {
        let mut backoff = Backoff::new(MIN_BACKOFF, MAX_BACKOFF);
        let metrics = Arc::clone(&self.services.metrics);
        let counters = &metrics.federation;
        loop {
            if *self.stopped.borrow() {
                break;
            }
            match self.send_one().await {
                Ok(sent) => {
                    {
                        let mut status = lock(&self.state.status);
                        status.failure_ts = 0;
                        status.retry_interval = 0;
                    }
                    if backoff.is_backing_off() {
                        backoff.reset();
                        counters
                            .destinations_backing_off
                            .fetch_sub(1, Ordering::Relaxed);
                        tracing::info!(destination = %self.name, "destination is back; catching up");
                    }
                    if sent {
                        continue;
                    }
                    tokio::select! {
                        _ = self.state.wake.notified() => {}
                        _ = self.stopped.changed() => {}
                    }
                }
                Err(error) => {
                    if !backoff.is_backing_off() {
                        counters
                            .destinations_backing_off
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    let wait = backoff.fail();
                    {
                        let mut status = lock(&self.state.status);
                        let now = now_ms();
                        if status.failure_ts == 0 {
                            status.failure_ts = now;
                        }
                        status.retry_last_ts = now;
                        status.retry_interval = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
                    }
                    tracing::info!(destination = %self.name, %error, retry_in = ?wait, "federation transaction failed");
                    self.state.up.store(false, Ordering::Relaxed);
                    let deadline = tokio::time::Instant::now() + wait;
                    loop {
                        tokio::select! {
                            _ = tokio::time::sleep_until(deadline) => break,
                            _ = self.state.wake.notified() => {
                                // The destination talked to us: try now.
                                if self.state.up.load(Ordering::Relaxed) {
                                    break;
                                }
                            }
                            _ = self.stopped.changed() => break,
                        }
                    }
                    self.catching_up = true;
                }
            }
        }
        if backoff.is_backing_off() {
            counters
                .destinations_backing_off
                .fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Sends one transaction; `Ok(false)` when there was nothing to send.
    async fn send_one(&mut self) -> Result<bool> {
        let prefix = compound_key(&[self.name.as_bytes(), b""]);
        let rows =
            self.services
                .store
                .scan_prefix(DESTINATION_QUEUE, &prefix, MAX_PDUS + MAX_EDUS)?;
        let mut pdus: Vec<Box<RawValue>> = Vec::new();
        let mut edus: Vec<Raw<ruma::api::federation::transactions::edu::Edu>> = Vec::new();
        let mut sent_keys = Vec::new();
        for (key, value) in rows {
            let item: QueueItem = serde_json::from_slice(&value).map_err(Error::storage)?;
            match item {
                // A transaction ends at the first item that does not fit: what follows it in
                // the stream (a receipt for the last message) never overtakes it.
                QueueItem::Pdu { event_id } => {
                    if pdus.len() >= MAX_PDUS {
                        break;
                    }
                    if let Some(json) = self.services.rooms.pdu_json(&event_id)? {
                        let mut json = json;
                        if let Some(object) = json.as_object_mut() {
                            object.remove("unsigned");
                        }
                        pdus.push(
                            serde_json::value::to_raw_value(&json)
                                .map_err(|error| Error::Internal(error.to_string()))?,
                        );
                    }
                }
                QueueItem::Edu { edu } => {
                    if edus.len() >= MAX_EDUS {
                        break;
                    }
                    edus.push(
                        Raw::new(&edu)
                            .map_err(|error| Error::Internal(error.to_string()))?
                            .cast_unchecked(),
                    );
                }
            }
            sent_keys.push(key);
        }
        let ephemeral: Vec<JsonValue> = std::mem::take(&mut *lock(&self.state.ephemeral));
        for edu in &ephemeral {
            edus.push(
                Raw::new(edu)
                    .map_err(|error| Error::Internal(error.to_string()))?
                    .cast_unchecked(),
            );
        }
        if pdus.is_empty() && edus.is_empty() {
            return Ok(false);
        }
        let txn_id = OwnedTransactionId::from(format!("{}_{}", now_ms(), rand::random::<u32>()));
        let mut request = send_transaction_message::v1::Request::new(
            txn_id,
            self.services.rooms.server_name().clone(),
            MilliSecondsSinceUnixEpoch::now(),
        );
        request.pdus = pdus;
        request.edus = edus;
        match self.client.send_transaction(&self.name, request).await {
            Ok(response) => {
                for (event_id, result) in response.pdus {
                    if let Err(error) = result {
                        tracing::info!(destination = %self.name, %event_id, %error, "destination refused a PDU");
                    }
                }
                let mut batch = WriteBatch::new();
                let sent = sent_keys.len();
                let last_position = sent_keys
                    .iter()
                    .filter_map(|key| {
                        myelin_core::storage::split_key(key)
                            .get(1)
                            .and_then(|bytes| <[u8; 8]>::try_from(*bytes).ok())
                            .map(u64::from_be_bytes)
                    })
                    .max();
                if last_position.is_some() {
                    lock(&self.state.status).last_position = last_position;
                }
                for key in sent_keys {
                    batch.delete(DESTINATION_QUEUE, key);
                }
                self.services.store.commit(batch).await?;
                let counters = &self.services.metrics.federation;
                counters.transactions_sent.fetch_add(1, Ordering::Relaxed);
                if self.catching_up {
                    counters
                        .catch_up_transactions
                        .fetch_add(1, Ordering::Relaxed);
                    // Caught up once the queue holds no more than one transaction's worth.
                    self.catching_up = sent >= MAX_PDUS;
                }
                counters
                    .queue_depth
                    .fetch_sub(i64::try_from(sent).unwrap_or(0), Ordering::Relaxed);
                Ok(true)
            }
            Err(error) => {
                // Typing notifications are not worth resending late.
                self.services
                    .metrics
                    .federation
                    .transactions_failed
                    .fetch_add(1, Ordering::Relaxed);
                if matches!(
                    error,
                    Error::Forbidden(_)
                        | Error::NotFound(_)
                        | Error::InvalidParam(_)
                        | Error::BadJson(_)
                        | Error::TooLarge(_)
                ) {
                    // The destination refuses this transaction for good (it denies us, or finds
                    // it malformed): retrying would block its queue forever.
                    tracing::warn!(destination = %self.name, %error, "destination refused a transaction; dropping it");
                    let mut batch = WriteBatch::new();
                    let dropped = sent_keys.len();
                    for key in sent_keys {
                        batch.delete(DESTINATION_QUEUE, key);
                    }
                    self.services.store.commit(batch).await?;
                    self.services
                        .metrics
                        .federation
                        .queue_depth
                        .fetch_sub(i64::try_from(dropped).unwrap_or(0), Ordering::Relaxed);
                    return Ok(true);
                }
                Err(error)
            }
        }
    }
}
