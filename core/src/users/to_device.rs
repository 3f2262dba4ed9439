//! Send-to-device messages between local devices: queued per device with a stream position,
//! delivered in `/sync` until the device acknowledges them by syncing on from a later token.

use std::collections::BTreeMap;

use ruma::{DeviceId, OwnedDeviceId, OwnedUserId, UserId};
use serde_json::{Value as JsonValue, json};

use super::Users;
use crate::{
    error::{Error, Result},
    storage::{WriteBatch, compound_key},
    stream::{RemoteToDevice, StreamItem},
};

/// `(user, device, position, sequence)` → `{sender, type, content}`.
const USERDEVICEPOSITION_TODEVICE: &str = "userdeviceposition_todevice";
/// `(user, device, transaction id)` → nothing: transactions already sent.
const USERDEVICETXN_TODEVICE: &str = "userdevicetxn_todevice";

/// Messages one request may carry at most (Synapse's limit per `sendToDevice`).
const MAX_MESSAGES: usize = 10_000;

impl Users {
    /// Queues `messages` (user → device or `*` → content) of type `kind` from a device: for
    /// local users in their devices' queues, for users of other servers in the stream item the
    /// federation sender hands to their servers. A repeated transaction id of the same device
    /// changes nothing; returns whether this one was new.
    pub async fn send_to_device(
        &self,
        sender: &UserId,
        sender_device: &DeviceId,
        txn_id: &str,
        kind: &str,
        messages: &BTreeMap<OwnedUserId, BTreeMap<String, JsonValue>>,
    ) -> Result<bool> {
        let txn_key = compound_key(&[
            sender.as_bytes(),
            sender_device.as_bytes(),
            txn_id.as_bytes(),
        ]);
        if self
            .store()
            .get(USERDEVICETXN_TODEVICE, &txn_key)?
            .is_some()
        {
            return Ok(false);
        }
        let mut recipients: Vec<(OwnedUserId, OwnedDeviceId, JsonValue)> = Vec::new();
        let mut remote: BTreeMap<OwnedUserId, BTreeMap<String, JsonValue>> = BTreeMap::new();
        for (user_id, devices) in messages {
            for (device, content) in devices {
                if !content.is_object() {
                    return Err(Error::BadJson("To-device content must be an object".into()));
                }
                if !self.is_local(user_id) {
                    remote
                        .entry(user_id.clone())
                        .or_default()
                        .insert(device.clone(), content.clone());
                    continue;
                }
                let targets: Vec<OwnedDeviceId> = if device == "*" {
                    self.devices(user_id)?
                        .into_iter()
                        .map(|info| info.device_id)
                        .collect()
                } else {
                    vec![OwnedDeviceId::from(device.as_str())]
                };
                for target in targets {
                    recipients.push((user_id.clone(), target, content.clone()));
                }
            }
        }
        if recipients.len() > MAX_MESSAGES {
            return Err(Error::TooLarge(format!(
                "At most {MAX_MESSAGES} to-device messages per request"
            )));
        }
        let pending = self.inner.notifier.next();
        let mut batch = WriteBatch::new();
        for (sequence, (user_id, device_id, content)) in recipients.iter().enumerate() {
            let sequence = u32::try_from(sequence).unwrap_or(u32::MAX);
            batch.put_json(
                USERDEVICEPOSITION_TODEVICE,
                compound_key(&[
                    user_id.as_bytes(),
                    device_id.as_bytes(),
                    &pending.position.to_be_bytes(),
                    &sequence.to_be_bytes(),
                ]),
                &json!({ "sender": sender, "type": kind, "content": content }),
            );
        }
        batch.put(USERDEVICETXN_TODEVICE, txn_key, Vec::new());
        pending.record(
            &mut batch,
            &StreamItem::ToDevice {
                recipients: recipients
                    .into_iter()
                    .map(|(user, device, _)| (user, device))
                    .collect(),
                remote: (!remote.is_empty()).then(|| {
                    Box::new(RemoteToDevice {
                        sender: sender.to_owned(),
                        kind: kind.to_owned(),
                        message_id: format!("{sender_device}_{txn_id}"),
                        messages: remote,
                    })
                }),
            },
        );
        self.store().commit(batch).await?;
        Ok(true)
    }

    /// Messages waiting for a device at or before `up_to`, oldest first.
    pub fn to_device_messages(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        up_to: u64,
    ) -> Result<Vec<JsonValue>> {
        let prefix = compound_key(&[user_id.as_bytes(), device_id.as_bytes(), b""]);
        let mut messages = Vec::new();
        for (key, value) in
            self.store()
                .scan_prefix(USERDEVICEPOSITION_TODEVICE, &prefix, usize::MAX)?
        {
            let position = key
                .get(prefix.len()..prefix.len() + 8)
                .and_then(|bytes| bytes.try_into().ok())
                .map(u64::from_be_bytes)
                .ok_or_else(|| Error::Storage("bad to-device key".into()))?;
            if position > up_to {
                break;
            }
            messages.push(serde_json::from_slice(&value).map_err(Error::storage)?);
        }
        Ok(messages)
    }

    /// Adds the deletion of a device's messages at or before `up_to` to `batch` (handed to an
    /// appservice in the same batch that records the transaction carrying them).
    pub fn remove_to_device_into(
        &self,
        batch: &mut WriteBatch,
        user_id: &UserId,
        device_id: &DeviceId,
        up_to: u64,
    ) -> Result<()> {
        let prefix = compound_key(&[user_id.as_bytes(), device_id.as_bytes(), b""]);
        for (key, _) in
            self.store()
                .scan_prefix(USERDEVICEPOSITION_TODEVICE, &prefix, usize::MAX)?
        {
            let position = key
                .get(prefix.len()..prefix.len() + 8)
                .and_then(|bytes| bytes.try_into().ok())
                .map(u64::from_be_bytes)
                .unwrap_or(u64::MAX);
            if position > up_to {
                break;
            }
            batch.delete(USERDEVICEPOSITION_TODEVICE, key);
        }
        Ok(())
    }

    /// Deletes the messages a device has acknowledged: those at or before `since`.
    pub async fn acknowledge_to_device(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        since: u64,
    ) -> Result<()> {
        let mut batch = WriteBatch::new();
        self.remove_to_device_into(&mut batch, user_id, device_id, since)?;
        if batch.is_empty() {
            return Ok(());
        }
        self.store().commit_lazy(batch).await
    }
}
