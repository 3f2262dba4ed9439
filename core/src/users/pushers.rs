//! Pushers: where a user's devices want push notifications sent (an HTTP push gateway and the
//! device's pushkey there), as `POST /pushers/set` registers them.

use ruma::{DeviceId, OwnedDeviceId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::Value as JsonValue;

use super::Users;
use crate::{
    error::{Error, Result},
    storage::{WriteBatch, compound_key, split_key},
};

/// `(user, app id, pushkey)` → [`Pusher`].
const USERAPPKEY_PUSHER: &str = "userappkey_pusher";
/// `(app id, pushkey, user)` → nothing: who else registered the same pushkey.
const APPKEYUSER_PUSHER: &str = "appkeyuser_pusher";

/// The path every HTTP push gateway serves (Synapse refuses other URLs the same way).
pub const PUSH_GATEWAY_PATH: &str = "/_matrix/push/v1/notify";

/// A registered pusher, in the shape `GET /pushers` lists.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Pusher {
    pub pushkey: String,
    pub kind: String,
    pub app_id: String,
    pub app_display_name: String,
    pub device_display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_tag: Option<String>,
    pub lang: String,
    /// `url` (the gateway) and `format`, plus whatever else the client put there.
    pub data: JsonValue,
    /// When the pushkey was registered (ms); gateways use it to tell stale keys apart.
    #[serde(default)]
    pub pushkey_ts: u64,
    /// The device that registered it: deleting the device deletes its pushers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<OwnedDeviceId>,
}

impl Pusher {
    /// The gateway URL of an HTTP pusher.
    pub fn url(&self) -> Option<&str> {
        self.data.get("url").and_then(JsonValue::as_str)
    }

    /// Checks what a client may register: HTTP pushers only (no email pushers without an email
    /// service), a gateway URL at the push path, and the spec's size limits.
    fn validate(&self) -> Result<()> {
        if self.kind != "http" {
            return Err(Error::InvalidParam(format!(
                "Pusher kind {:?} is not supported; only \"http\" is",
                self.kind
            )));
        }
        if self.app_id.is_empty() || self.app_id.len() > 64 {
            return Err(Error::InvalidParam("app_id must be 1 to 64 bytes".into()));
        }
        if self.pushkey.is_empty() || self.pushkey.len() > 512 {
            return Err(Error::InvalidParam("pushkey must be 1 to 512 bytes".into()));
        }
        let url = self
            .url()
            .ok_or_else(|| Error::MissingParam("An HTTP pusher needs data.url".into()))?;
        let valid = ["http://", "https://"].iter().any(|scheme| {
            url.strip_prefix(scheme)
                .and_then(|rest| rest.find('/').map(|slash| &rest[slash..]))
                .is_some_and(|path| path == PUSH_GATEWAY_PATH)
        });
        if !valid {
            return Err(Error::InvalidParam(format!(
                "data.url must be an http(s) URL with the path {PUSH_GATEWAY_PATH}"
            )));
        }
        Ok(())
    }
}

/// Whether a user has any pusher (checked per notified user on the send path; a failed read
/// counts as yes, so a notification is never silently skipped).
pub(crate) fn has_pushers(store: &crate::storage::Store, user_id: &UserId) -> bool {
    let prefix = compound_key(&[user_id.as_bytes(), b""]);
    store
        .scan_prefix(USERAPPKEY_PUSHER, &prefix, 1)
        .map_or(true, |rows| !rows.is_empty())
}

fn pusher_row(user_id: &UserId, app_id: &str, pushkey: &str) -> Vec<u8> {
    compound_key(&[user_id.as_bytes(), app_id.as_bytes(), pushkey.as_bytes()])
}

fn owner_row(app_id: &str, pushkey: &str, user_id: &UserId) -> Vec<u8> {
    compound_key(&[app_id.as_bytes(), pushkey.as_bytes(), user_id.as_bytes()])
}

impl Users {
    /// Registers (or replaces) a pusher. Unless `append`, the same app id and pushkey
    /// registered by other users is removed, as the spec says.
    pub async fn set_pusher(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        mut pusher: Pusher,
        append: bool,
    ) -> Result<()> {
        pusher.validate()?;
        pusher.device_id = Some(device_id.to_owned());
        pusher.pushkey_ts = super::now_ms();
        let _guard = self.inner.write_lock.lock().await;
        let mut batch = WriteBatch::new();
        if !append {
            for owner in self.pushkey_owners(&pusher.app_id, &pusher.pushkey)? {
                if owner != user_id {
                    self.remove_pusher_into(&mut batch, &owner, &pusher.app_id, &pusher.pushkey);
                }
            }
        }
        batch.put(
            APPKEYUSER_PUSHER,
            owner_row(&pusher.app_id, &pusher.pushkey, user_id),
            Vec::new(),
        );
        batch.put_json(
            USERAPPKEY_PUSHER,
            pusher_row(user_id, &pusher.app_id, &pusher.pushkey),
            &pusher,
        );
        self.store().commit(batch).await
    }

    /// Removes a pusher; removing one that does not exist succeeds (as in Synapse).
    pub async fn remove_pusher(&self, user_id: &UserId, app_id: &str, pushkey: &str) -> Result<()> {
        let _guard = self.inner.write_lock.lock().await;
        let mut batch = WriteBatch::new();
        self.remove_pusher_into(&mut batch, user_id, app_id, pushkey);
        self.store().commit(batch).await
    }

    fn remove_pusher_into(
        &self,
        batch: &mut WriteBatch,
        user_id: &UserId,
        app_id: &str,
        pushkey: &str,
    ) {
        batch.delete(USERAPPKEY_PUSHER, pusher_row(user_id, app_id, pushkey));
        batch.delete(APPKEYUSER_PUSHER, owner_row(app_id, pushkey, user_id));
    }

    fn pushkey_owners(&self, app_id: &str, pushkey: &str) -> Result<Vec<ruma::OwnedUserId>> {
        let prefix = compound_key(&[app_id.as_bytes(), pushkey.as_bytes(), b""]);
        Ok(self
            .store()
            .scan_prefix(APPKEYUSER_PUSHER, &prefix, usize::MAX)?
            .into_iter()
            .filter_map(|(key, _)| {
                let user = split_key(&key).get(2).copied()?;
                UserId::parse(std::str::from_utf8(user).ok()?).ok()
            })
            .collect())
    }

    /// A user's pushers.
    pub fn pushers(&self, user_id: &UserId) -> Result<Vec<Pusher>> {
        let prefix = compound_key(&[user_id.as_bytes(), b""]);
        self.store()
            .scan_prefix(USERAPPKEY_PUSHER, &prefix, usize::MAX)?
            .into_iter()
            .map(|(_, value)| serde_json::from_slice(&value).map_err(Error::storage))
            .collect()
    }

    /// Forgets the pushers a deleted device registered (added to the batch that deletes it).
    pub(crate) fn remove_device_pushers_into(
        &self,
        batch: &mut WriteBatch,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> Result<()> {
        for pusher in self.pushers(user_id)? {
            if pusher.device_id.as_deref() == Some(device_id) {
                self.remove_pusher_into(batch, user_id, &pusher.app_id, &pusher.pushkey);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pusher(kind: &str, url: &str) -> Pusher {
        Pusher {
            pushkey: "key".into(),
            kind: kind.into(),
            app_id: "app".into(),
            app_display_name: "App".into(),
            device_display_name: "Phone".into(),
            profile_tag: None,
            lang: "en".into(),
            data: json!({ "url": url }),
            pushkey_ts: 0,
            device_id: None,
        }
    }

    #[test]
    fn only_http_pushers_to_the_push_path_are_accepted() {
        assert!(
            pusher("http", "https://push.example/_matrix/push/v1/notify")
                .validate()
                .is_ok()
        );
        assert!(
            pusher("http", "http://127.0.0.1:9/_matrix/push/v1/notify")
                .validate()
                .is_ok()
        );
        for url in [
            "https://push.example/other",
            "ftp://push.example/_matrix/push/v1/notify",
            "https://push.example",
            "/_matrix/push/v1/notify",
        ] {
            assert!(
                matches!(pusher("http", url).validate(), Err(Error::InvalidParam(_))),
                "{url}"
            );
        }
        assert!(
            pusher("email", "https://push.example/_matrix/push/v1/notify")
                .validate()
                .is_err()
        );
    }
}
