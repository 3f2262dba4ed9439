//! Accounts: creation, passwords, listing and deactivation.

use ruma::{OwnedUserId, ServerName, UserId};
use serde::{Deserialize, Serialize};

use super::{
    Users, devices::USERDEVICEID_DEVICE, now_ms, passwords, profile::USERID_PROFILE, random_string,
};
use crate::{
    error::{Error, Result},
    storage::WriteBatch,
};

pub(crate) const USERID_ACCOUNT: &str = "userid_account";

/// What the store keeps about an account. Deactivated accounts stay, so their ids are never
/// handed out again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountRecord {
    pub password_hash: Option<String>,
    pub created_ts: u64,
    #[serde(default)]
    pub deactivated: bool,
    #[serde(default)]
    pub admin: bool,
    /// The appservice that registered this (ghost or sender) user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appservice_id: Option<String>,
    /// Synapse's user type, set by an administrator: `bot` or `support` (none for people).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_type: Option<String>,
}

/// The user types an administrator may give (Synapse's built-in ones).
pub const USER_TYPES: [&str; 2] = ["bot", "support"];

/// Checks a localpart a user asks for against the rules for new accounts (the spec's historical
/// characters are accepted on the wire, but not for new registrations) and builds the user id.
pub fn validate_new_localpart(localpart: &str, server_name: &ServerName) -> Result<OwnedUserId> {
    if localpart.is_empty() {
        return Err(Error::InvalidUsername("User ID cannot be empty".into()));
    }
    if !localpart.bytes().all(
        |byte| matches!(byte, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'=' | b'-' | b'/' | b'+'),
    ) {
        return Err(Error::InvalidUsername(
            "User ID can only contain characters a-z, 0-9, or '=_-./+'".into(),
        ));
    }
    // Synapse reserves leading underscores for application services' namespaces.
    if localpart.starts_with('_') {
        return Err(Error::InvalidUsername(
            "User ID may not begin with _".into(),
        ));
    }
    let user_id = format!("@{localpart}:{server_name}");
    if user_id.len() > 255 {
        return Err(Error::InvalidUsername(
            "User ID may not be longer than 255 characters".into(),
        ));
    }
    UserId::parse(user_id)
        .map_err(|error| Error::InvalidUsername(format!("Invalid user ID: {error}")))
}

impl Users {
    pub fn account(&self, user_id: &UserId) -> Result<Option<AccountRecord>> {
        self.store().get_json(USERID_ACCOUNT, user_id.as_bytes())
    }

    /// A user id for `localpart` that may be registered now.
    pub fn check_username_available(&self, localpart: &str) -> Result<OwnedUserId> {
        let user_id = validate_new_localpart(localpart, self.server_name())?;
        if self.account(&user_id)?.is_some() {
            return Err(Error::UserInUse("User ID already taken.".into()));
        }
        Ok(user_id)
    }

    /// A fresh numeric localpart, as Synapse generates when a client registers without one.
    pub fn generate_user_id(&self) -> Result<OwnedUserId> {
        loop {
            let localpart: String = random_string(12).to_lowercase();
            let user_id = validate_new_localpart(&localpart, self.server_name())?;
            if self.account(&user_id)?.is_none() {
                return Ok(user_id);
            }
        }
    }

    /// Creates an account; `registration_token`, when given, has one use consumed in the same
    /// atomic write, so a one-use token can never admit two accounts.
    #[tracing::instrument(skip_all, fields(%user_id))]
    pub async fn create_account(
        &self,
        user_id: &UserId,
        password: Option<&str>,
        admin: bool,
        registration_token: Option<&str>,
    ) -> Result<()> {
        if let Some(password) = password {
            self.check_password_policy(password)?;
        }
        let password_hash = match password {
            Some(password) => {
                Some(passwords::hash_password(password.to_owned(), &self.inner.hashing).await?)
            }
            None => None,
        };
        self.insert_account(
            user_id,
            AccountRecord {
                password_hash,
                created_ts: now_ms(),
                deactivated: false,
                admin,
                appservice_id: None,
                user_type: None,
            },
            registration_token,
        )
        .await
    }

    /// Registers a user for an appservice (its sender, or a ghost in its namespace): no
    /// password, marked as the appservice's.
    pub async fn create_appservice_account(
        &self,
        user_id: &UserId,
        appservice_id: &str,
    ) -> Result<()> {
        self.insert_account(
            user_id,
            AccountRecord {
                password_hash: None,
                created_ts: now_ms(),
                deactivated: false,
                admin: false,
                appservice_id: Some(appservice_id.to_owned()),
                user_type: None,
            },
            None,
        )
        .await
    }

    async fn insert_account(
        &self,
        user_id: &UserId,
        record: AccountRecord,
        registration_token: Option<&str>,
    ) -> Result<()> {
        let _guard = self.inner.write_lock.lock().await;
        if self.account(user_id)?.is_some() {
            return Err(Error::UserInUse("User ID already taken.".into()));
        }
        let mut batch = WriteBatch::new();
        if let Some(token) = registration_token {
            self.consume_registration_token(&mut batch, token)?;
        }
        batch.put_json(USERID_ACCOUNT, user_id.as_bytes().to_vec(), &record);
        batch.put_json(
            USERID_PROFILE,
            user_id.as_bytes().to_vec(),
            &serde_json::json!({ "displayname": user_id.localpart() }),
        );
        self.store().commit(batch).await
    }

    pub fn check_password_policy(&self, password: &str) -> Result<()> {
        if password.len() > passwords::MAX_PASSWORD_BYTES {
            return Err(Error::WeakPassword(format!(
                "Password is longer than {} bytes",
                passwords::MAX_PASSWORD_BYTES
            )));
        }
        let minimum = self.config().registration.min_password_length;
        if password.chars().count() < minimum {
            return Err(Error::WeakPassword(format!(
                "Password must be at least {minimum} characters long"
            )));
        }
        Ok(())
    }

    /// Every account, deactivated ones included, in user id order.
    pub fn list_accounts(&self) -> Result<Vec<(OwnedUserId, AccountRecord)>> {
        self.store()
            .scan_prefix(USERID_ACCOUNT, b"", usize::MAX)?
            .into_iter()
            .map(|(key, value)| {
                let user_id = String::from_utf8(key)
                    .ok()
                    .and_then(|text| UserId::parse(text).ok())
                    .ok_or_else(|| Error::Storage("unreadable user id key".into()))?;
                let record = serde_json::from_slice(&value).map_err(Error::storage)?;
                Ok((user_id, record))
            })
            .collect()
    }

    /// Makes an account a server administrator, or not.
    pub async fn set_admin(&self, user_id: &UserId, admin: bool) -> Result<()> {
        self.update_account(user_id, |record| {
            record.admin = admin;
            Ok(())
        })
        .await
    }

    /// Brings a deactivated account back (Synapse's admin API does, with a new password); its
    /// devices and profile stay gone.
    pub async fn reactivate(&self, user_id: &UserId, new_password: &str) -> Result<()> {
        self.check_password_policy(new_password)?;
        let hash = passwords::hash_password(new_password.to_owned(), &self.inner.hashing).await?;
        self.update_account(user_id, move |record| {
            record.deactivated = false;
            record.password_hash = Some(hash);
            Ok(())
        })
        .await
    }

    /// Gives a local account a user type (one of [`USER_TYPES`]) or takes it away.
    pub async fn set_user_type(&self, user_id: &UserId, user_type: Option<&str>) -> Result<()> {
        if let Some(kind) = user_type
            && !USER_TYPES.contains(&kind)
        {
            return Err(Error::InvalidParam(format!("Invalid user type {kind}")));
        }
        self.update_account(user_id, |record| {
            record.user_type = user_type.map(str::to_owned);
            Ok(())
        })
        .await
    }

    async fn update_account(
        &self,
        user_id: &UserId,
        change: impl FnOnce(&mut AccountRecord) -> Result<()>,
    ) -> Result<()> {
        let _guard = self.inner.write_lock.lock().await;
        let Some(mut record) = self.account(user_id)? else {
            return Err(Error::NotFound("Unknown user".into()));
        };
        change(&mut record)?;
        let mut batch = WriteBatch::new();
        batch.put_json(USERID_ACCOUNT, user_id.as_bytes().to_vec(), &record);
        self.store().commit(batch).await
    }

    /// Checks a password; an unknown user and a wrong password give the same answer, so the
    /// response does not reveal which accounts exist.
    pub async fn verify_password(&self, user_id: &UserId, password: &str) -> Result<()> {
        let invalid = || Error::Forbidden("Invalid username or password".into());
        let Some(record) = self.account(user_id)? else {
            return Err(invalid());
        };
        if record.deactivated {
            return Err(Error::UserDeactivated);
        }
        let Some(hash) = record.password_hash else {
            return Err(invalid());
        };
        if password.len() > passwords::MAX_PASSWORD_BYTES
            || !passwords::verify_password(password.to_owned(), hash, &self.inner.hashing).await?
        {
            return Err(invalid());
        }
        Ok(())
    }

    /// Sets a new password; when `keep_device` is given every other device is logged out
    /// (`None` with `logout_devices` logs out all of them, as the CLI reset does).
    #[tracing::instrument(skip_all, fields(%user_id))]
    pub async fn set_password(
        &self,
        user_id: &UserId,
        new_password: &str,
        logout_devices: bool,
        keep_device: Option<&ruma::DeviceId>,
    ) -> Result<()> {
        self.check_password_policy(new_password)?;
        let hash = passwords::hash_password(new_password.to_owned(), &self.inner.hashing).await?;
        let _guard = self.inner.write_lock.lock().await;
        let Some(mut record) = self.account(user_id)? else {
            return Err(Error::NotFound("Unknown user".into()));
        };
        if record.deactivated {
            return Err(Error::UserDeactivated);
        }
        record.password_hash = Some(hash);
        let mut batch = WriteBatch::new();
        batch.put_json(USERID_ACCOUNT, user_id.as_bytes().to_vec(), &record);
        if logout_devices {
            for device in self.devices(user_id)? {
                if Some(device.device_id.as_ref()) != keep_device {
                    self.delete_device_into(&mut batch, user_id, &device.device_id)?;
                }
            }
        }
        self.store().commit(batch).await
    }

    /// Deactivates an account for good: password, devices, tokens and profile are removed; the
    /// record stays so the id is never reissued.
    #[tracing::instrument(skip_all, fields(%user_id))]
    pub async fn deactivate(&self, user_id: &UserId) -> Result<()> {
        let _guard = self.inner.write_lock.lock().await;
        let Some(mut record) = self.account(user_id)? else {
            return Err(Error::NotFound("Unknown user".into()));
        };
        record.deactivated = true;
        record.password_hash = None;
        let mut batch = WriteBatch::new();
        batch.put_json(USERID_ACCOUNT, user_id.as_bytes().to_vec(), &record);
        batch.delete(USERID_PROFILE, user_id.as_bytes().to_vec());
        let prefix = crate::storage::compound_key(&[user_id.as_bytes(), b""]);
        for (key, _) in self
            .store()
            .scan_prefix(USERDEVICEID_DEVICE, &prefix, usize::MAX)?
        {
            let device_id: ruma::OwnedDeviceId = String::from_utf8_lossy(&key[prefix.len()..])
                .as_ref()
                .into();
            self.delete_device_into(&mut batch, user_id, &device_id)?;
        }
        self.store().commit(batch).await
    }
}

impl Users {
    /// Creates each appservice's sender user when missing; refuses a sender name that belongs to
    /// a user the appservice did not register (a clash with a local user).
    pub async fn ensure_appservice_senders(
        &self,
        appservices: &crate::appservice::Appservices,
    ) -> Result<()> {
        for appservice in appservices.all() {
            match self.account(&appservice.sender)? {
                None => {
                    self.create_appservice_account(&appservice.sender, appservice.id())
                        .await?
                }
                Some(record) if record.appservice_id.as_deref() == Some(appservice.id()) => {}
                Some(_) => {
                    return Err(Error::InvalidParam(format!(
                        "appservice {}: its sender {} is an existing local user",
                        appservice.id(),
                        appservice.sender
                    )));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_localparts_follow_the_strict_grammar() {
        let server = ruma::server_name!("example.org");
        assert_eq!(
            validate_new_localpart("alice.b-c", server)
                .expect("valid")
                .as_str(),
            "@alice.b-c:example.org"
        );
        for bad in ["", "Alice", "al ice", "_bridge", "al:ice", &"a".repeat(250)] {
            assert!(
                matches!(
                    validate_new_localpart(bad, server),
                    Err(Error::InvalidUsername(_))
                ),
                "{bad}"
            );
        }
    }
}
