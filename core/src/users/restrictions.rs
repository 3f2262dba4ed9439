//! Administrators' restrictions on local accounts (spec 1.18): a *locked* account can do
//! nothing but log out (every other request is `M_USER_LOCKED`); a *suspended* one can read and
//! leave but not send, join, invite, create rooms, change its profile or upload media
//! (`M_USER_SUSPENDED`). Synapse's admin API adds the shadow-ban and a per-user message rate.
//! Few accounts are ever restricted, so all restrictions are kept in
//! memory (read on every request) and in their own table.

use std::collections::HashMap;

use ruma::{OwnedUserId, UserId};
use serde::{Deserialize, Serialize};

use super::Users;
use crate::{
    error::{Error, Result},
    storage::WriteBatch,
};

const USERID_RESTRICTIONS: &str = "userid_restrictions";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restrictions {
    #[serde(default)]
    pub locked: bool,
    #[serde(default)]
    pub suspended: bool,
    /// Synapse's shadow-ban: what the user sends seems to succeed but reaches nobody.
    #[serde(default)]
    pub shadow_banned: bool,
    /// The administrator's own message rate for this user (Synapse's `override_ratelimit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_rate: Option<MessageRate>,
}

/// A user's own message rate: `messages_per_second` actions a second with bursts of
/// `burst_count`; both 0 means no limit at all (Synapse's meaning).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRate {
    pub messages_per_second: u32,
    pub burst_count: u32,
}

/// Reads every stored restriction (at startup).
pub(super) fn load(store: &crate::storage::Store) -> Result<HashMap<OwnedUserId, Restrictions>> {
    let mut restrictions = HashMap::new();
    for (key, value) in store.scan_prefix(USERID_RESTRICTIONS, b"", usize::MAX)? {
        let user_id = String::from_utf8(key)
            .ok()
            .and_then(|text| UserId::parse(text).ok())
            .ok_or_else(|| Error::Storage("unreadable user id key".into()))?;
        restrictions.insert(
            user_id,
            serde_json::from_slice(&value).map_err(Error::storage)?,
        );
    }
    Ok(restrictions)
}

impl Users {
    pub fn restrictions(&self, user_id: &UserId) -> Restrictions {
        self.inner
            .restrictions
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(user_id)
            .copied()
            .unwrap_or_default()
    }

    /// Sets a local account's restrictions (`NotFound` for unknown accounts).
    pub async fn set_restrictions(
        &self,
        user_id: &UserId,
        restrictions: Restrictions,
    ) -> Result<()> {
        if self.account(user_id)?.is_none() {
            return Err(Error::NotFound("Unknown user".into()));
        }
        let mut batch = WriteBatch::new();
        if restrictions == Restrictions::default() {
            batch.delete(USERID_RESTRICTIONS, user_id.as_bytes().to_vec());
        } else {
            batch.put_json(
                USERID_RESTRICTIONS,
                user_id.as_bytes().to_vec(),
                &restrictions,
            );
        }
        self.store().commit(batch).await?;
        let mut all = self
            .inner
            .restrictions
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if restrictions == Restrictions::default() {
            all.remove(user_id);
        } else {
            all.insert(user_id.to_owned(), restrictions);
        }
        Ok(())
    }

    /// Whether what the user sends should seem to succeed and reach nobody.
    pub fn is_shadow_banned(&self, user_id: &UserId) -> bool {
        self.restrictions(user_id).shadow_banned
    }

    /// Refuses a suspended user's action.
    pub fn check_not_suspended(&self, user_id: &UserId) -> Result<()> {
        if self.restrictions(user_id).suspended {
            return Err(Error::UserSuspended);
        }
        Ok(())
    }
}
