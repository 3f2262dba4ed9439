//! Devices: one per login, each owning its access (and refresh) token.

use std::{collections::HashMap, sync::Mutex};

use ruma::{DeviceId, OwnedDeviceId, OwnedUserId, UserId};
use serde::{Deserialize, Serialize};

use super::{Identity, Users};
use crate::{
    error::{Error, Result},
    storage::{WriteBatch, compound_key},
};

/// Access-token digest → the session (device) it opens; deleted with the device.
pub(crate) const TOKENDIGEST_SESSION: &str = "tokendigest_session";
/// Refresh-token digest → the session it renews; deleted with the device.
pub(crate) const REFRESHDIGEST_SESSION: &str = "refreshdigest_session";
pub(crate) const USERDEVICEID_DEVICE: &str = "userdeviceid_device";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DeviceRecord {
    pub display_name: Option<String>,
    pub created_ts: u64,
    pub last_seen_ip: Option<String>,
    pub last_seen_ts: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_user_agent: Option<String>,
    /// Encoded digest of the current access token.
    pub access_token_digest: String,
    pub refresh_token_digest: Option<String>,
}

/// A device as clients see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    pub device_id: OwnedDeviceId,
    pub display_name: Option<String>,
    pub last_seen_ip: Option<String>,
    pub last_seen_ts: Option<u64>,
    /// The `User-Agent` of the last request (what Synapse shows administrators).
    pub last_seen_user_agent: Option<String>,
}

/// Where and when a device was last seen, and with which client.
#[derive(Debug, Clone)]
struct Seen {
    ip: String,
    ts: u64,
    user_agent: Option<String>,
}

/// Last-seen data is updated on every authenticated request, so it is kept in memory and
/// written lazily (losing a few seconds of it in a crash is harmless).
#[derive(Default)]
pub(crate) struct LastSeen {
    dirty: Mutex<HashMap<(OwnedUserId, OwnedDeviceId), Seen>>,
}

pub(crate) fn device_key(user_id: &UserId, device_id: &DeviceId) -> Vec<u8> {
    compound_key(&[user_id.as_bytes(), device_id.as_bytes()])
}

impl Users {
    pub(crate) fn device_record(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> Result<Option<DeviceRecord>> {
        self.store()
            .get_json(USERDEVICEID_DEVICE, &device_key(user_id, device_id))
    }

    fn info(&self, user_id: &UserId, device_id: OwnedDeviceId, record: DeviceRecord) -> DeviceInfo {
        let recent = self
            .inner
            .last_seen
            .dirty
            .lock()
            .ok()
            .and_then(|dirty| dirty.get(&(user_id.to_owned(), device_id.clone())).cloned());
        let (last_seen_ip, last_seen_ts, last_seen_user_agent) = match recent {
            Some(seen) => (
                Some(seen.ip),
                Some(seen.ts),
                seen.user_agent.or(record.last_seen_user_agent),
            ),
            None => (
                record.last_seen_ip,
                record.last_seen_ts,
                record.last_seen_user_agent,
            ),
        };
        DeviceInfo {
            device_id,
            display_name: record.display_name,
            last_seen_ip,
            last_seen_ts,
            last_seen_user_agent,
        }
    }

    /// All devices of a user, in device id order.
    pub fn devices(&self, user_id: &UserId) -> Result<Vec<DeviceInfo>> {
        let prefix = compound_key(&[user_id.as_bytes(), b""]);
        self.store()
            .scan_prefix(USERDEVICEID_DEVICE, &prefix, usize::MAX)?
            .into_iter()
            .map(|(key, value)| {
                let device_id: OwnedDeviceId = String::from_utf8_lossy(&key[prefix.len()..])
                    .as_ref()
                    .into();
                let record: DeviceRecord =
                    serde_json::from_slice(&value).map_err(Error::storage)?;
                Ok(self.info(user_id, device_id, record))
            })
            .collect()
    }

    pub fn device(&self, user_id: &UserId, device_id: &DeviceId) -> Result<Option<DeviceInfo>> {
        Ok(self
            .device_record(user_id, device_id)?
            .map(|record| self.info(user_id, device_id.to_owned(), record)))
    }

    pub async fn set_device_display_name(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        display_name: Option<String>,
    ) -> Result<()> {
        if display_name.as_ref().is_some_and(|name| name.len() > 100) {
            return Err(Error::InvalidParam(
                "Device display name may not be longer than 100 characters".into(),
            ));
        }
        let _guard = self.inner.write_lock.lock().await;
        let Some(mut record) = self.device_record(user_id, device_id)? else {
            return Err(Error::NotFound("Unknown device".into()));
        };
        record.display_name = display_name;
        let mut batch = WriteBatch::new();
        batch.put_json(USERDEVICEID_DEVICE, device_key(user_id, device_id), &record);
        // The name is part of what `/keys/query` answers (`unsigned.device_display_name`): those
        // who share a room, here and on other servers, hear of the change, as in Synapse
        // [Complement TestFederationKeyUploadQuery].
        let pending = self.inner.notifier.next();
        pending.record(
            &mut batch,
            &crate::stream::StreamItem::DeviceKeys {
                user_id: user_id.to_owned(),
                devices: vec![(device_id.to_owned(), false)],
            },
        );
        self.store().commit(batch).await
    }

    /// Deletes devices and their tokens; unknown device ids are skipped, as the spec asks for
    /// `POST /delete_devices`.
    pub async fn delete_devices(
        &self,
        user_id: &UserId,
        device_ids: &[OwnedDeviceId],
    ) -> Result<()> {
        let _guard = self.inner.write_lock.lock().await;
        let mut batch = WriteBatch::new();
        for device_id in device_ids {
            self.delete_device_into(&mut batch, user_id, device_id)?;
        }
        let pending = self.inner.notifier.next();
        pending.record(
            &mut batch,
            &crate::stream::StreamItem::DeviceKeys {
                user_id: user_id.to_owned(),
                devices: device_ids.iter().map(|id| (id.clone(), true)).collect(),
            },
        );
        self.store().commit(batch).await?;
        drop(_guard);
        // A device's own notification settings (MSC3890) go with it: deleted as MSC3391
        // deletes account data (empty content), so the user's other clients see them go.
        for device_id in device_ids {
            let kind = format!("org.matrix.msc3890.local_notification_settings.{device_id}");
            if self
                .account_data(user_id, None, &kind)?
                .is_some_and(|content| content.as_object().is_none_or(|fields| !fields.is_empty()))
            {
                self.set_account_data(user_id, None, &kind, serde_json::json!({}))
                    .await?;
            }
        }
        Ok(())
    }

    /// Adds the deletion of a device, its tokens and its encryption keys to `batch`. Caller
    /// holds the write lock.
    pub(crate) fn delete_device_into(
        &self,
        batch: &mut WriteBatch,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> Result<()> {
        self.remove_device_into(batch, user_id, device_id)?;
        self.remove_device_pushers_into(batch, user_id, device_id)?;
        self.remove_device_keys_into(batch, user_id, device_id)
    }

    /// Adds the removal of a device and its tokens to `batch` (its keys stay: logging in again
    /// with the same device id keeps them). Caller holds the write lock.
    pub(crate) fn remove_device_into(
        &self,
        batch: &mut WriteBatch,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> Result<()> {
        let Some(record) = self.device_record(user_id, device_id)? else {
            return Ok(());
        };
        batch.delete(TOKENDIGEST_SESSION, record.access_token_digest.into_bytes());
        if let Some(refresh) = record.refresh_token_digest {
            batch.delete(REFRESHDIGEST_SESSION, refresh.into_bytes());
        }
        batch.delete(USERDEVICEID_DEVICE, device_key(user_id, device_id));
        if let Ok(mut dirty) = self.inner.last_seen.dirty.lock() {
            dirty.remove(&(user_id.to_owned(), device_id.to_owned()));
        }
        Ok(())
    }

    /// Notes that a device was just used; cheap (memory only).
    pub fn record_last_seen(&self, identity: &Identity, ip: String, user_agent: Option<&str>) {
        if let Ok(mut dirty) = self.inner.last_seen.dirty.lock() {
            let key = (identity.user_id.clone(), identity.device_id.clone());
            // Bounded: a header is not a place to store megabytes. The same client as before
            // is kept without a copy (this runs on every request), and a request without a
            // `User-Agent` keeps the client known from before.
            let previous = dirty.remove(&key).and_then(|seen| seen.user_agent);
            let given = user_agent.map(|agent| {
                agent
                    .char_indices()
                    .nth(512)
                    .map_or(agent, |(end, _)| &agent[..end])
            });
            let user_agent = match given {
                Some(agent) if previous.as_deref() != Some(agent) => Some(agent.to_owned()),
                _ => previous,
            };
            dirty.insert(
                key,
                Seen {
                    ip,
                    ts: super::now_ms(),
                    user_agent,
                },
            );
        }
    }

    /// Writes the remembered last-seen data to the store without waiting for a flush.
    pub async fn flush_last_seen(&self) -> Result<()> {
        let pending: Vec<_> = match self.inner.last_seen.dirty.lock() {
            Ok(mut dirty) => dirty.drain().collect(),
            Err(_) => return Err(Error::Internal("last-seen lock poisoned".into())),
        };
        if pending.is_empty() {
            return Ok(());
        }
        let _guard = self.inner.write_lock.lock().await;
        let mut batch = WriteBatch::new();
        for ((user_id, device_id), seen) in pending {
            if let Some(mut record) = self.device_record(&user_id, &device_id)? {
                record.last_seen_ip = Some(seen.ip);
                record.last_seen_ts = Some(seen.ts);
                if seen.user_agent.is_some() {
                    record.last_seen_user_agent = seen.user_agent;
                }
                batch.put_json(
                    USERDEVICEID_DEVICE,
                    device_key(&user_id, &device_id),
                    &record,
                );
            }
        }
        self.store().commit_lazy(batch).await
    }
}
