//! Registration tokens (`m.login.registration_token`): from the config (unlimited) or made with
//! the CLI (optionally limited in uses and time).

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::{Users, now_ms, random_string};
use crate::{
    error::{Error, Result},
    storage::WriteBatch,
};

const TOKEN_REGISTRATIONTOKEN: &str = "token_registrationtoken";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RegistrationToken {
    pub token: String,
    /// `None`: unlimited.
    pub uses_allowed: Option<u32>,
    pub completed: u32,
    /// Milliseconds since the epoch after which the token no longer works.
    pub expiry_time: Option<u64>,
    pub created_ts: u64,
}

impl RegistrationToken {
    fn usable(&self, now: u64) -> bool {
        self.uses_allowed
            .is_none_or(|allowed| self.completed < allowed)
            && self.expiry_time.is_none_or(|expiry| expiry > now)
    }
}

impl Users {
    pub async fn create_registration_token(
        &self,
        uses_allowed: Option<u32>,
        expiry_time: Option<u64>,
    ) -> Result<RegistrationToken> {
        let token = RegistrationToken {
            token: random_string(24),
            uses_allowed,
            completed: 0,
            expiry_time,
            created_ts: now_ms(),
        };
        let mut batch = WriteBatch::new();
        batch.put_json(
            TOKEN_REGISTRATIONTOKEN,
            token.token.clone().into_bytes(),
            &token,
        );
        self.store().commit(batch).await?;
        Ok(token)
    }

    /// Creates a token named by the administrator (Synapse's admin API lets them choose it):
    /// `[A-Za-z0-9._~-]`, at most 64 characters, not taken.
    pub async fn create_named_registration_token(
        &self,
        token: &str,
        uses_allowed: Option<u32>,
        expiry_time: Option<u64>,
    ) -> Result<RegistrationToken> {
        if token.is_empty()
            || token.len() > 64
            || !token
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || b"._~-".contains(&byte))
        {
            return Err(Error::InvalidParam(
                "token must consist only of characters matched by the regex [A-Za-z0-9._~-], \
                 and be at most 64 characters"
                    .into(),
            ));
        }
        let _guard = self.inner.write_lock.lock().await;
        if self.registration_token(token)?.is_some() {
            return Err(Error::InvalidParam(format!(
                "Token already exists: {token}"
            )));
        }
        let record = RegistrationToken {
            token: token.to_owned(),
            uses_allowed,
            completed: 0,
            expiry_time,
            created_ts: now_ms(),
        };
        let mut batch = WriteBatch::new();
        batch.put_json(TOKEN_REGISTRATIONTOKEN, token.as_bytes().to_vec(), &record);
        self.store().commit(batch).await?;
        Ok(record)
    }

    /// One token made by an administrator.
    pub fn registration_token(&self, token: &str) -> Result<Option<RegistrationToken>> {
        self.store()
            .get_json(TOKEN_REGISTRATIONTOKEN, token.as_bytes())
    }

    /// Changes a token's limits (`None` leaves a limit as it is; `Some(None)` lifts it).
    pub async fn update_registration_token(
        &self,
        token: &str,
        uses_allowed: Option<Option<u32>>,
        expiry_time: Option<Option<u64>>,
    ) -> Result<RegistrationToken> {
        let _guard = self.inner.write_lock.lock().await;
        let mut record = self
            .registration_token(token)?
            .ok_or_else(|| Error::NotFound("No such registration token".into()))?;
        if let Some(uses_allowed) = uses_allowed {
            record.uses_allowed = uses_allowed;
        }
        if let Some(expiry_time) = expiry_time {
            record.expiry_time = expiry_time;
        }
        let mut batch = WriteBatch::new();
        batch.put_json(TOKEN_REGISTRATIONTOKEN, token.as_bytes().to_vec(), &record);
        self.store().commit(batch).await?;
        Ok(record)
    }

    pub fn registration_tokens(&self) -> Result<Vec<RegistrationToken>> {
        self.store()
            .scan_prefix(TOKEN_REGISTRATIONTOKEN, b"", usize::MAX)?
            .into_iter()
            .map(|(_, value)| serde_json::from_slice(&value).map_err(Error::storage))
            .collect()
    }

    pub async fn delete_registration_token(&self, token: &str) -> Result<()> {
        if self
            .store()
            .get(TOKEN_REGISTRATIONTOKEN, token.as_bytes())?
            .is_none()
        {
            return Err(Error::NotFound("No such registration token".into()));
        }
        let mut batch = WriteBatch::new();
        batch.delete(TOKEN_REGISTRATIONTOKEN, token.as_bytes().to_vec());
        self.store().commit(batch).await
    }

    fn config_token_matches(&self, token: &str) -> bool {
        // Every configured token is compared, in constant time, whatever matches first.
        self.config()
            .registration
            .tokens
            .iter()
            .fold(false, |found, configured| {
                found | bool::from(configured.as_bytes().ct_eq(token.as_bytes()))
            })
    }

    /// Whether `token` may be used for a registration now.
    pub fn registration_token_valid(&self, token: &str) -> Result<bool> {
        if token.is_empty() || token.len() > 64 {
            return Ok(false);
        }
        if self.config_token_matches(token) {
            return Ok(true);
        }
        Ok(self
            .store()
            .get_json::<RegistrationToken>(TOKEN_REGISTRATIONTOKEN, token.as_bytes())?
            .is_some_and(|stored| stored.usable(now_ms())))
    }

    /// Adds one use of `token` to `batch`; refuses a token that ran out meanwhile.
    /// Caller holds the write lock.
    pub(crate) fn consume_registration_token(
        &self,
        batch: &mut WriteBatch,
        token: &str,
    ) -> Result<()> {
        if self.config_token_matches(token) {
            return Ok(());
        }
        let Some(mut stored) = self
            .store()
            .get_json::<RegistrationToken>(TOKEN_REGISTRATIONTOKEN, token.as_bytes())?
        else {
            return Err(Error::Unauthorized("Invalid registration token".into()));
        };
        if !stored.usable(now_ms()) {
            return Err(Error::Unauthorized(
                "Registration token is used up or expired".into(),
            ));
        }
        stored.completed += 1;
        batch.put_json(TOKEN_REGISTRATIONTOKEN, token.as_bytes().to_vec(), &stored);
        Ok(())
    }
}
