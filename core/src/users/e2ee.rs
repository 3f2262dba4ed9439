//! End-to-end encryption keys of local devices: device keys, one-time keys and fallback keys,
//! as clients upload them and others query and claim them. The server only stores and hands
//! out what clients signed; it never sees message keys.

use std::collections::BTreeMap;

use ruma::{DeviceId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::Value as JsonValue;

use super::Users;
use crate::{
    error::{Error, Result},
    storage::{WriteBatch, compound_key, split_key},
};

/// `(user, device)` → signed device keys.
const USERDEVICE_KEYS: &str = "userdevice_devicekeys";
/// `(user, device, key id)` → one-time key (key ids are `algorithm:id`).
const USERDEVICEKEY_ONETIMEKEY: &str = "userdevicekeyid_onetimekey";
/// `(user, device, algorithm)` → the device's fallback key of that algorithm.
const USERDEVICEALGORITHM_FALLBACK: &str = "userdevicealgorithm_fallbackkey";
/// `(user, device, algorithm, upload sequence, key id)` → nothing: the order one-time keys are
/// claimed in, oldest upload first (spec 1.13). Keys stored before this index existed have no
/// entry and are claimed by key id once the indexed ones are gone.
const USERDEVICEALGORITHMSEQ_ONETIMEKEY: &str = "userdevicealgorithmseq_onetimekey";

/// Largest number of one-time keys one device may hold (Synapse does not cap; clients keep
/// about 50; this refuses floods).
const MAX_ONE_TIME_KEYS: usize = 1000;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FallbackKey {
    key_id: String,
    key: JsonValue,
    used: bool,
}

fn algorithm_of(key_id: &str) -> Result<&str> {
    key_id
        .split_once(':')
        .map(|(algorithm, _)| algorithm)
        .filter(|algorithm| !algorithm.is_empty())
        .ok_or_else(|| Error::InvalidParam(format!("Key id {key_id} is not algorithm:id")))
}

impl Users {
    /// Stores what a device uploads; returns its one-time key counts per algorithm. Device keys
    /// must name the uploading user and device; an already uploaded one-time key id keeps its
    /// key (a different key under the same id is refused, as in Synapse).
    pub async fn upload_keys(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        device_keys: Option<JsonValue>,
        one_time_keys: BTreeMap<String, JsonValue>,
        fallback_keys: BTreeMap<String, JsonValue>,
    ) -> Result<BTreeMap<String, u64>> {
        let _guard = self.inner.write_lock.lock().await;
        let mut batch = WriteBatch::new();
        let pending = self.inner.notifier.next();
        if let Some(keys) = device_keys {
            pending.record(
                &mut batch,
                &crate::stream::StreamItem::DeviceKeys {
                    user_id: user_id.to_owned(),
                    devices: vec![(device_id.to_owned(), false)],
                },
            );
            if keys.get("user_id").and_then(JsonValue::as_str) != Some(user_id.as_str())
                || keys.get("device_id").and_then(JsonValue::as_str) != Some(device_id.as_str())
            {
                return Err(Error::InvalidParam(
                    "device_keys must name the uploading user and device".into(),
                ));
            }
            check_device_keys_shape(&keys)?;
            batch.put_json(
                USERDEVICE_KEYS,
                compound_key(&[user_id.as_bytes(), device_id.as_bytes()]),
                &keys,
            );
        }
        let existing = self.one_time_key_ids(user_id, device_id)?;
        if existing.len() + one_time_keys.len() > MAX_ONE_TIME_KEYS {
            return Err(Error::TooLarge(format!(
                "A device holds at most {MAX_ONE_TIME_KEYS} one-time keys"
            )));
        }
        for key in one_time_keys.values().chain(fallback_keys.values()) {
            check_one_time_key_shape(key)?;
        }
        // Upload time, then position in the upload: later uploads sort after earlier ones
        // (uploads are serialised by the write lock).
        let upload_sequence = super::now_ms() << 16;
        for (position, (key_id, key)) in one_time_keys.into_iter().enumerate() {
            let algorithm = algorithm_of(&key_id)?.to_owned();
            let row = compound_key(&[user_id.as_bytes(), device_id.as_bytes(), key_id.as_bytes()]);
            if let Some(old) = self
                .store()
                .get_json::<JsonValue>(USERDEVICEKEY_ONETIMEKEY, &row)?
            {
                if old != key {
                    return Err(Error::InvalidParam(format!(
                        "One-time key {key_id} already exists with another value"
                    )));
                }
                continue;
            }
            batch.put_json(USERDEVICEKEY_ONETIMEKEY, row, &key);
            let sequence = upload_sequence | (position as u64 & 0xffff);
            batch.put(
                USERDEVICEALGORITHMSEQ_ONETIMEKEY,
                compound_key(&[
                    user_id.as_bytes(),
                    device_id.as_bytes(),
                    algorithm.as_bytes(),
                    // Fixed-width decimal: sorts like the number, never holds the separator.
                    format!("{sequence:020}").as_bytes(),
                    key_id.as_bytes(),
                ]),
                Vec::new(),
            );
        }
        for (key_id, key) in fallback_keys {
            let algorithm = algorithm_of(&key_id)?.to_owned();
            batch.put_json(
                USERDEVICEALGORITHM_FALLBACK,
                compound_key(&[
                    user_id.as_bytes(),
                    device_id.as_bytes(),
                    algorithm.as_bytes(),
                ]),
                &FallbackKey {
                    key_id,
                    key,
                    used: false,
                },
            );
        }
        self.store().commit(batch).await?;
        drop(pending);
        self.one_time_key_counts(user_id, device_id)
    }

    fn one_time_key_ids(&self, user_id: &UserId, device_id: &DeviceId) -> Result<Vec<String>> {
        let prefix = compound_key(&[user_id.as_bytes(), device_id.as_bytes(), b""]);
        Ok(self
            .store()
            .scan_prefix(USERDEVICEKEY_ONETIMEKEY, &prefix, usize::MAX)?
            .into_iter()
            .filter_map(|(key, _)| {
                split_key(&key)
                    .get(2)
                    .and_then(|id| std::str::from_utf8(id).ok())
                    .map(str::to_owned)
            })
            .collect())
    }

    /// One-time keys left per algorithm (`device_one_time_keys_count`).
    pub fn one_time_key_counts(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> Result<BTreeMap<String, u64>> {
        let mut counts = BTreeMap::new();
        for key_id in self.one_time_key_ids(user_id, device_id)? {
            *counts.entry(algorithm_of(&key_id)?.to_owned()).or_default() += 1;
        }
        Ok(counts)
    }

    /// Algorithms of the device's fallback keys not used yet
    /// (`device_unused_fallback_key_types`).
    pub fn unused_fallback_key_types(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> Result<Vec<String>> {
        let prefix = compound_key(&[user_id.as_bytes(), device_id.as_bytes(), b""]);
        Ok(self
            .store()
            .scan_prefix(USERDEVICEALGORITHM_FALLBACK, &prefix, usize::MAX)?
            .into_iter()
            .filter_map(|(_, value)| serde_json::from_slice::<FallbackKey>(&value).ok())
            .filter(|fallback| !fallback.used)
            .filter_map(|fallback| algorithm_of(&fallback.key_id).ok().map(str::to_owned))
            .collect())
    }

    /// The device keys of a user's devices (all of them when `devices` is empty), with the
    /// device's display name in `unsigned` as the spec asks.
    pub fn device_keys(
        &self,
        user_id: &UserId,
        devices: &[ruma::OwnedDeviceId],
    ) -> Result<BTreeMap<String, JsonValue>> {
        let prefix = compound_key(&[user_id.as_bytes(), b""]);
        let mut found = BTreeMap::new();
        for (key, value) in self
            .store()
            .scan_prefix(USERDEVICE_KEYS, &prefix, usize::MAX)?
        {
            let Some(device) = split_key(&key)
                .get(1)
                .and_then(|id| std::str::from_utf8(id).ok())
                .map(str::to_owned)
            else {
                continue;
            };
            if !devices.is_empty() && !devices.iter().any(|wanted| wanted.as_str() == device) {
                continue;
            }
            let mut keys: JsonValue = serde_json::from_slice(&value).map_err(Error::storage)?;
            let name = self
                .device(user_id, &ruma::OwnedDeviceId::from(device.as_str()))?
                .and_then(|record| record.display_name);
            if let Some(name) = name {
                keys["unsigned"]["device_display_name"] = name.into();
            }
            self.add_signatures(&mut keys, user_id, &device, None)?;
            found.insert(device, keys);
        }
        Ok(found)
    }

    /// Takes one one-time key of `algorithm` from the device, or its fallback key (which stays,
    /// marked used) when none is left. `None` when the device has neither.
    pub async fn claim_key(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        algorithm: &str,
    ) -> Result<Option<(String, JsonValue)>> {
        let _guard = self.inner.write_lock.lock().await;
        // The oldest upload first (spec 1.13).
        let ordered = compound_key(&[
            user_id.as_bytes(),
            device_id.as_bytes(),
            algorithm.as_bytes(),
            b"",
        ]);
        if let Some((index_row, _)) = self
            .store()
            .scan_prefix(USERDEVICEALGORITHMSEQ_ONETIMEKEY, &ordered, 1)?
            .into_iter()
            .next()
        {
            let key_id = split_key(&index_row)
                .get(4)
                .and_then(|id| std::str::from_utf8(id).ok())
                .map(str::to_owned)
                .ok_or_else(|| Error::Storage("bad one-time key order row".into()))?;
            let row = compound_key(&[user_id.as_bytes(), device_id.as_bytes(), key_id.as_bytes()]);
            let mut batch = WriteBatch::new();
            batch.delete(USERDEVICEALGORITHMSEQ_ONETIMEKEY, index_row);
            let key = self
                .store()
                .get_json::<JsonValue>(USERDEVICEKEY_ONETIMEKEY, &row)?;
            batch.delete(USERDEVICEKEY_ONETIMEKEY, row);
            self.store().commit(batch).await?;
            if let Some(key) = key {
                return Ok(Some((key_id, key)));
            }
        }
        let prefix = compound_key(&[
            user_id.as_bytes(),
            device_id.as_bytes(),
            format!("{algorithm}:").as_bytes(),
        ]);
        // Key ids start with `algorithm:`, so this prefix finds the keys of that algorithm.
        if let Some((row, value)) = self
            .store()
            .scan_prefix(USERDEVICEKEY_ONETIMEKEY, &prefix, 1)?
            .into_iter()
            .next()
        {
            let key_id = split_key(&row)
                .get(2)
                .and_then(|id| std::str::from_utf8(id).ok())
                .map(str::to_owned)
                .ok_or_else(|| Error::Storage("bad one-time key row".into()))?;
            let key: JsonValue = serde_json::from_slice(&value).map_err(Error::storage)?;
            let mut batch = WriteBatch::new();
            batch.delete(USERDEVICEKEY_ONETIMEKEY, row);
            self.store().commit(batch).await?;
            return Ok(Some((key_id, key)));
        }
        let row = compound_key(&[
            user_id.as_bytes(),
            device_id.as_bytes(),
            algorithm.as_bytes(),
        ]);
        let Some(mut fallback) = self
            .store()
            .get_json::<FallbackKey>(USERDEVICEALGORITHM_FALLBACK, &row)?
        else {
            return Ok(None);
        };
        if !fallback.used {
            fallback.used = true;
            let mut batch = WriteBatch::new();
            batch.put_json(USERDEVICEALGORITHM_FALLBACK, row, &fallback);
            self.store().commit(batch).await?;
        }
        Ok(Some((fallback.key_id, fallback.key)))
    }

    /// Records that a user of another server changed their devices or cross-signing keys (their
    /// server said so): local users sharing a room with them hear of it, and the cached copy of
    /// their keys is stale.
    pub async fn note_remote_device_change(&self, user_id: &UserId) -> Result<()> {
        let pending = self.inner.notifier.next();
        let mut batch = WriteBatch::new();
        self.mark_remote_keys_stale_into(&mut batch, user_id)?;
        pending.record(
            &mut batch,
            &crate::stream::StreamItem::DeviceKeys {
                user_id: user_id.to_owned(),
                devices: Vec::new(),
            },
        );
        self.store().commit(batch).await
    }

    /// Forgets a deleted device's keys (added to the batch that deletes the device).
    pub(crate) fn remove_device_keys_into(
        &self,
        batch: &mut WriteBatch,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> Result<()> {
        batch.delete(
            USERDEVICE_KEYS,
            compound_key(&[user_id.as_bytes(), device_id.as_bytes()]),
        );
        self.remove_device_signatures_into(batch, user_id, device_id)?;
        let prefix = compound_key(&[user_id.as_bytes(), device_id.as_bytes(), b""]);
        for tree in [
            USERDEVICEKEY_ONETIMEKEY,
            USERDEVICEALGORITHM_FALLBACK,
            USERDEVICEALGORITHMSEQ_ONETIMEKEY,
        ] {
            for (key, _) in self.store().scan_prefix(tree, &prefix, usize::MAX)? {
                batch.delete(tree, key);
            }
        }
        Ok(())
    }
}
/// The shape the spec gives `DeviceKeys` (Synapse checks the same with its pydantic model):
/// `algorithms` a list of strings, `keys` strings by key id, `signatures` strings by key id by
/// user. Keys of other shapes were stored and served to every other client.
fn check_device_keys_shape(keys: &JsonValue) -> Result<()> {
    let bad = |why: &str| Err(Error::BadJson(format!("device_keys: {why}")));
    let strings_by_string = |value: &JsonValue| {
        value
            .as_object()
            .is_some_and(|map| map.values().all(JsonValue::is_string))
    };
    if !keys
        .get("algorithms")
        .and_then(JsonValue::as_array)
        .is_some_and(|algorithms| algorithms.iter().all(JsonValue::is_string))
    {
        return bad("'algorithms' must be a list of strings");
    }
    if !keys.get("keys").is_some_and(strings_by_string) {
        return bad("'keys' must map key ids to strings");
    }
    if !keys.get("signatures").is_some_and(|signatures| {
        signatures
            .as_object()
            .is_some_and(|by_user| by_user.values().all(strings_by_string))
    }) {
        return bad("'signatures' must map users to key ids to strings");
    }
    Ok(())
}

/// A one-time or fallback key: an unsigned key string, or `{key, signatures, fallback?}`.
fn check_one_time_key_shape(key: &JsonValue) -> Result<()> {
    if key.is_string() {
        return Ok(());
    }
    let valid = key.as_object().is_some_and(|object| {
        object.get("key").is_some_and(JsonValue::is_string)
            && object.get("signatures").is_none_or(|signatures| {
                signatures.as_object().is_some_and(|by_user| {
                    by_user.values().all(|keys| {
                        keys.as_object()
                            .is_some_and(|keys| keys.values().all(JsonValue::is_string))
                    })
                })
            })
            && object.get("fallback").is_none_or(JsonValue::is_boolean)
    });
    if valid {
        Ok(())
    } else {
        Err(Error::BadJson(
            "one-time and fallback keys must be a key string or {key, signatures}".into(),
        ))
    }
}
