//! Account data: per-user JSON documents, global or per room, keyed by event type.

use ruma::{RoomId, UserId};
use serde_json::Value as JsonValue;

use super::Users;
use crate::{
    error::{Error, Result},
    storage::{WriteBatch, compound_key},
    stream::StreamItem,
};

/// Account data entries by event type.
pub type AccountDataByType = std::collections::BTreeMap<String, JsonValue>;

pub(crate) const USERROOMTYPE_ACCOUNTDATA: &str = "userroomtype_accountdata";

pub(crate) fn key(user_id: &UserId, room_id: Option<&RoomId>, event_type: &str) -> Vec<u8> {
    compound_key(&[
        user_id.as_bytes(),
        room_id.map_or(&b""[..], |room| room.as_bytes()),
        event_type.as_bytes(),
    ])
}

impl Users {
    pub fn account_data(
        &self,
        user_id: &UserId,
        room_id: Option<&RoomId>,
        event_type: &str,
    ) -> Result<Option<JsonValue>> {
        self.store()
            .get_json(USERROOMTYPE_ACCOUNTDATA, &key(user_id, room_id, event_type))
    }

    /// Every account data entry of a user: global ones by type, and each room's by type (for
    /// administrators).
    pub fn account_data_everywhere(
        &self,
        user_id: &UserId,
    ) -> Result<(
        AccountDataByType,
        std::collections::BTreeMap<String, AccountDataByType>,
    )> {
        let mut global = std::collections::BTreeMap::new();
        let mut rooms: std::collections::BTreeMap<String, std::collections::BTreeMap<_, _>> =
            std::collections::BTreeMap::new();
        let prefix = compound_key(&[user_id.as_bytes(), b""]);
        for (key, value) in
            self.store()
                .scan_prefix(USERROOMTYPE_ACCOUNTDATA, &prefix, usize::MAX)?
        {
            let parts = crate::storage::split_key(&key);
            let (Some(room), Some(kind)) = (parts.get(1), parts.get(2)) else {
                continue;
            };
            let content: JsonValue = serde_json::from_slice(&value).map_err(Error::storage)?;
            let kind = String::from_utf8_lossy(kind).into_owned();
            if room.is_empty() {
                global.insert(kind, content);
            } else {
                rooms
                    .entry(String::from_utf8_lossy(room).into_owned())
                    .or_default()
                    .insert(kind, content);
            }
        }
        Ok((global, rooms))
    }

    /// Every account data entry of a user (global when `room_id` is `None`), by type.
    pub fn all_account_data(
        &self,
        user_id: &UserId,
        room_id: Option<&RoomId>,
    ) -> Result<Vec<(String, JsonValue)>> {
        let prefix = key(user_id, room_id, "");
        self.store()
            .scan_prefix(USERROOMTYPE_ACCOUNTDATA, &prefix, usize::MAX)?
            .into_iter()
            .map(|(key, value)| {
                let event_type =
                    String::from_utf8(key[prefix.len()..].to_vec()).map_err(Error::storage)?;
                Ok((
                    event_type,
                    serde_json::from_slice(&value).map_err(Error::storage)?,
                ))
            })
            .collect()
    }

    #[tracing::instrument(skip_all, fields(%user_id, event_type))]
    pub async fn set_account_data(
        &self,
        user_id: &UserId,
        room_id: Option<&RoomId>,
        event_type: &str,
        content: JsonValue,
    ) -> Result<()> {
        if !content.is_object() {
            return Err(Error::BadJson(
                "Account data content must be a JSON object".into(),
            ));
        }
        if event_type.is_empty() || event_type.len() > 255 {
            return Err(Error::InvalidParam(
                "Account data type must be 1 to 255 bytes".into(),
            ));
        }
        let pending = self.inner.notifier.next();
        let mut batch = WriteBatch::new();
        batch.put_json(
            USERROOMTYPE_ACCOUNTDATA,
            key(user_id, room_id, event_type),
            &content,
        );
        let item = StreamItem::AccountData {
            user_id: user_id.to_owned(),
            room_id: room_id.map(ToOwned::to_owned),
            event_type: event_type.to_owned(),
        };
        pending.record(&mut batch, &item);
        self.store().commit(batch).await
    }

    /// Replaces account data with what `change` makes of the current content (`None`: leave it
    /// as it is), with no other read-modify-write of this server's users in between (room tags).
    pub async fn update_account_data(
        &self,
        user_id: &UserId,
        room_id: Option<&RoomId>,
        event_type: &str,
        change: impl FnOnce(Option<JsonValue>) -> Option<JsonValue>,
    ) -> Result<()> {
        let _guard = self.inner.write_lock.lock().await;
        let current = self.account_data(user_id, room_id, event_type)?;
        match change(current) {
            Some(content) => {
                self.set_account_data(user_id, room_id, event_type, content)
                    .await
            }
            None => Ok(()),
        }
    }
}
