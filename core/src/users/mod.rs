//! Accounts, devices, access tokens, profiles, account data, filters, registration tokens and
//! user-interactive authentication: everything that belongs to a user rather than to a room.

pub(crate) mod account_data;
mod accounts;
mod cross_signing;
mod devices;
mod e2ee;
mod filters;
mod invite_permissions;
mod key_backup;
mod openid;
mod passwords;
mod profile;
pub(crate) mod push_rules;
mod pushers;
mod registration_tokens;
mod remote_keys;
mod restrictions;
mod sessions;
mod to_device;
mod uia;

use std::sync::Arc;

use base64::Engine as _;
use ruma::{OwnedDeviceId, OwnedServerName, OwnedUserId};
use sha2::{Digest, Sha256};

pub use self::{
    accounts::{AccountRecord, USER_TYPES, validate_new_localpart},
    cross_signing::{CrossSigningUpload, KeyUsage, cross_signing_public_key},
    devices::DeviceInfo,
    invite_permissions::InviteDecision,
    key_backup::{BackupInfo, BackupKeysState, BackupScope},
    openid::OPENID_TOKEN_LIFETIME_MS,
    push_rules::{LEGACY_MENTION_RULES, server_default_rules},
    pushers::{PUSH_GATEWAY_PATH, Pusher},
    registration_tokens::RegistrationToken,
    remote_keys::RemoteKeys,
    restrictions::{MessageRate, Restrictions},
    sessions::{IssuedSession, SessionRequest},
    uia::{STAGE_DUMMY, STAGE_PASSWORD, STAGE_REGISTRATION_TOKEN, UiaFlow, UiaOutcome},
};
pub(crate) use self::{pushers::has_pushers, remote_keys::REMOTEUSER_KEYS};
use crate::{config::Config, storage::Store, stream::Notifier};

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: OwnedUserId,
    pub device_id: OwnedDeviceId,
    /// Set when an appservice makes the request (with its `as_token`).
    pub appservice_id: Option<String>,
}

/// The user service. Cheap to clone.
#[derive(Clone)]
pub struct Users {
    inner: Arc<UsersInner>,
}

struct UsersInner {
    store: Store,
    config: Arc<Config>,
    server_name: OwnedServerName,
    /// Serialises read-modify-write sequences on accounts, devices and tokens so that two
    /// requests cannot both claim a user id or both rotate one refresh token.
    write_lock: tokio::sync::Mutex<()>,
    uia: uia::UiaSessions,
    last_seen: devices::LastSeen,
    notifier: Arc<Notifier>,
    /// Bounds concurrent password hashing (argon2 is memory- and CPU-hard on purpose).
    hashing: tokio::sync::Semaphore,
    /// Locked and suspended accounts.
    restrictions: std::sync::RwLock<std::collections::HashMap<OwnedUserId, Restrictions>>,
}

impl Users {
    pub fn new(
        store: Store,
        config: Arc<Config>,
        notifier: Arc<Notifier>,
    ) -> crate::error::Result<Self> {
        let server_name = OwnedServerName::try_from(config.server.name.as_str()).map_err(|_| {
            crate::error::Error::InvalidParam(format!("invalid server name {}", config.server.name))
        })?;
        let restrictions = std::sync::RwLock::new(restrictions::load(&store)?);
        Ok(Self {
            inner: Arc::new(UsersInner {
                restrictions,
                store,
                uia: uia::UiaSessions::new(config.auth.uia_session_lifetime_ms),
                config,
                server_name,
                write_lock: tokio::sync::Mutex::new(()),
                last_seen: devices::LastSeen::default(),
                notifier,
                hashing: passwords::hashing_slots(),
            }),
        })
    }

    pub fn server_name(&self) -> &OwnedServerName {
        &self.inner.server_name
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Whether `user_id` belongs to this server.
    pub fn is_local(&self, user_id: &ruma::UserId) -> bool {
        user_id.server_name() == self.inner.server_name
    }
}

pub use crate::{clock::now_ms, ids::random_string};

/// Secrets (access, refresh and login tokens) are stored only as their SHA-256, so a copy of the
/// database does not let anyone act as a user, and lookups compare digests, not secrets.
pub(crate) fn secret_digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

pub(crate) fn encode_digest(digest: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}
