//! Filters uploaded by clients, numbered per user as Synapse numbers them.

use ruma::UserId;
use serde_json::Value as JsonValue;

use super::Users;
use crate::{
    error::{Error, Result},
    storage::{WriteBatch, compound_key},
};

const USERFILTERID_FILTER: &str = "userfilterid_filter";

impl Users {
    /// Stores a filter and returns its id.
    pub async fn create_filter(&self, user_id: &UserId, filter: JsonValue) -> Result<String> {
        let prefix = compound_key(&[user_id.as_bytes(), b""]);
        let _guard = self.inner.write_lock.lock().await;
        let upper = crate::storage::prefix_upper_bound(&prefix);
        let last = self.store().range(
            USERFILTERID_FILTER,
            std::ops::Bound::Included(&prefix),
            upper
                .as_deref()
                .map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded),
            true,
            1,
        )?;
        let next_id = match last.first() {
            Some((key, _)) => {
                let bytes: [u8; 8] = key[prefix.len()..]
                    .try_into()
                    .map_err(|_| Error::Storage("bad filter key".into()))?;
                u64::from_be_bytes(bytes) + 1
            }
            None => 0,
        };
        let mut batch = WriteBatch::new();
        batch.put_json(
            USERFILTERID_FILTER,
            compound_key(&[user_id.as_bytes(), &next_id.to_be_bytes()]),
            &filter,
        );
        self.store().commit(batch).await?;
        Ok(next_id.to_string())
    }

    pub fn filter(&self, user_id: &UserId, filter_id: &str) -> Result<JsonValue> {
        let not_found = || Error::NotFound("No such filter".into());
        let number: u64 = filter_id.parse().map_err(|_| not_found())?;
        self.store()
            .get_json(
                USERFILTERID_FILTER,
                &compound_key(&[user_id.as_bytes(), &number.to_be_bytes()]),
            )?
            .ok_or_else(not_found)
    }
}
