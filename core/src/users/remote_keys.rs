//! Keys of other servers' users, cached as Synapse's `device_lists_remote_cache` is: while this
//! server shares a room with a user, their server tells us of every device and cross-signing
//! change (`m.device_list_update`, `m.signing_key_update`), so the last answer stays right until
//! such an update marks it stale. `/keys/query` then answers from here instead of asking the
//! other server each time, and still answers (from the stale copy) when that server is down.

use std::collections::BTreeMap;

use ruma::UserId;
use serde::{Deserialize, Serialize};
use serde_json::Value as JsonValue;

use super::{Users, now_ms};
use crate::{error::Result, storage::WriteBatch};

pub(crate) const REMOTEUSER_KEYS: &str = "remoteuser_keys";

/// One remote user's keys as their server last gave them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RemoteKeys {
    /// Device id to signed device keys.
    pub devices: BTreeMap<String, JsonValue>,
    pub master_key: Option<JsonValue>,
    pub self_signing_key: Option<JsonValue>,
    pub fetched_ms: u64,
    /// Set when the user's server reported a change since: the copy is a fallback only.
    #[serde(default)]
    pub stale: bool,
}

impl RemoteKeys {
    /// The user's entries of a `user/keys/query` answer.
    pub fn from_answer(user_id: &UserId, answer: &JsonValue) -> Self {
        let user = user_id.as_str();
        Self {
            devices: answer["device_keys"][user]
                .as_object()
                .map(|devices| {
                    devices
                        .iter()
                        .map(|(id, keys)| (id.clone(), keys.clone()))
                        .collect()
                })
                .unwrap_or_default(),
            master_key: Some(answer["master_keys"][user].clone()).filter(JsonValue::is_object),
            self_signing_key: Some(answer["self_signing_keys"][user].clone())
                .filter(JsonValue::is_object),
            fetched_ms: now_ms(),
            stale: false,
        }
    }
}

impl Users {
    /// The cached keys of a remote user, stale or not.
    pub fn cached_remote_keys(&self, user_id: &UserId) -> Result<Option<RemoteKeys>> {
        self.store().get_json(REMOTEUSER_KEYS, user_id.as_bytes())
    }

    /// Caches what a remote user's server answered (only for users this server shares a room
    /// with: for others no update would tell us when the copy goes stale).
    pub async fn cache_remote_keys(&self, user_id: &UserId, keys: &RemoteKeys) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.put_json(REMOTEUSER_KEYS, user_id.as_bytes().to_vec(), keys);
        self.store().commit(batch).await
    }

    /// Marks a remote user's cached keys stale (their server reported a change), in `batch`.
    pub(crate) fn mark_remote_keys_stale_into(
        &self,
        batch: &mut WriteBatch,
        user_id: &UserId,
    ) -> Result<()> {
        if let Some(mut keys) = self.cached_remote_keys(user_id)? {
            keys.stale = true;
            batch.put_json(REMOTEUSER_KEYS, user_id.as_bytes().to_vec(), &keys);
        }
        Ok(())
    }
}
