//! The server's ed25519 signing key: generated once, kept in the store, used to sign every PDU
//! (and, with the federation issue, every outbound request).

use ruma::signatures::Ed25519KeyPair;
use serde::{Deserialize, Serialize};

use crate::{
    error::{Error, Result},
    ids::random_string,
    storage::{SCHEMA_TREE, Store, WriteBatch},
};

const SIGNING_KEY: &[u8] = b"signing_key";
const OLD_KEYS: &[u8] = b"old_verify_keys";

#[derive(Serialize, Deserialize)]
struct StoredKey {
    /// PKCS#8 DER document, base64.
    document: String,
    version: String,
}

/// A key this server signed with before, published in `old_verify_keys` so signatures made
/// with it still verify elsewhere.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OldKey {
    /// `ed25519:<version>`.
    pub key_id: String,
    /// Unpadded base64 public key.
    pub key: String,
    pub expired_ts: u64,
}

/// The signing key of this server, and the ones it used before.
pub struct ServerKeys {
    pub key_pair: Ed25519KeyPair,
    pub old_keys: Vec<OldKey>,
}

impl ServerKeys {
    /// Loads the signing key, generating and storing one on first start.
    pub fn load_or_generate(store: &Store) -> Result<Self> {
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::STANDARD;
        if let Some(stored) = store.get_json::<StoredKey>(SCHEMA_TREE, SIGNING_KEY)? {
            let document = engine.decode(&stored.document).map_err(Error::storage)?;
            let key_pair =
                Ed25519KeyPair::from_der(&document, stored.version).map_err(Error::storage)?;
            let old_keys = store.get_json(SCHEMA_TREE, OLD_KEYS)?.unwrap_or_default();
            return Ok(Self { key_pair, old_keys });
        }
        let document = Ed25519KeyPair::generate();
        let version = format!("a_{}", random_string(4));
        let key_pair =
            Ed25519KeyPair::from_der(&document, version.clone()).map_err(Error::storage)?;
        let mut batch = WriteBatch::new();
        batch.put_json(
            SCHEMA_TREE,
            SIGNING_KEY.to_vec(),
            &StoredKey {
                document: engine.encode(&document),
                version,
            },
        );
        store.apply_now(batch)?;
        tracing::info!(key_id = %format!("ed25519:{}", key_pair.version()), "generated the server signing key");
        Ok(Self {
            key_pair,
            old_keys: Vec::new(),
        })
    }

    /// Replaces the signing key with a new one; the old one moves to `old_verify_keys`, expired
    /// now. Run with the server stopped (the CLI opens the store directly). Returns the new key id.
    pub fn rotate(store: &Store) -> Result<String> {
        use base64::Engine as _;
        let current = Self::load_or_generate(store)?;
        let mut old_keys = current.old_keys.clone();
        old_keys.push(OldKey {
            key_id: current.key_id(),
            key: base64::engine::general_purpose::STANDARD_NO_PAD
                .encode(current.key_pair.public_key()),
            expired_ts: crate::clock::now_ms(),
        });
        let document = Ed25519KeyPair::generate();
        let version = format!("a_{}", random_string(4));
        let mut batch = WriteBatch::new();
        batch.put_json(
            SCHEMA_TREE,
            SIGNING_KEY.to_vec(),
            &StoredKey {
                document: base64::engine::general_purpose::STANDARD.encode(&document),
                version: version.clone(),
            },
        );
        batch.put_json(SCHEMA_TREE, OLD_KEYS.to_vec(), &old_keys);
        store.apply_now(batch)?;
        Ok(format!("ed25519:{version}"))
    }

    /// `ed25519:<version>`.
    pub fn key_id(&self) -> String {
        format!("ed25519:{}", self.key_pair.version())
    }
}

impl ServerKeys {
    /// The server's key document (`GET /_matrix/key/v2/server`), signed with the key it lists.
    pub fn key_document(
        &self,
        server_name: &ruma::ServerName,
        valid_for_ms: u64,
    ) -> Result<serde_json::Value> {
        use base64::Engine as _;
        let public =
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(self.key_pair.public_key());
        let document = serde_json::json!({
            "server_name": server_name,
            "valid_until_ts": crate::clock::now_ms() + valid_for_ms,
            "verify_keys": { self.key_id(): { "key": public } },
            "old_verify_keys": self
                .old_keys
                .iter()
                .map(|old| (old.key_id.clone(), serde_json::json!({ "key": old.key, "expired_ts": old.expired_ts })))
                .collect::<serde_json::Map<_, _>>(),
        });
        let mut object: ruma::CanonicalJsonObject =
            serde_json::from_value(document).map_err(|error| Error::Internal(error.to_string()))?;
        ruma::signatures::sign_json(server_name.as_str(), &self.key_pair, &mut object).map_err(
            |error| Error::Internal(format!("signing the key document failed: {error}")),
        )?;
        serde_json::to_value(object).map_err(|error| Error::Internal(error.to_string()))
    }
}

/// Other servers' signing keys, as fetched and verified by the federation layer.
pub(crate) const SERVERNAME_KEYS: &str = "servername_keys";

/// One public key of a remote server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedKey {
    /// Unpadded base64.
    pub key: String,
    /// Until when signatures made now may be trusted (for current keys).
    pub valid_until_ts: u64,
    /// For old keys: when the server stopped using it; signatures after that are not trusted.
    #[serde(default)]
    pub expired_ts: Option<u64>,
}

/// The keys of one remote server we know, by key id.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CachedServerKeys {
    pub keys: std::collections::BTreeMap<String, CachedKey>,
}

impl CachedServerKeys {
    /// Keys usable to check a signature made at `at_ms` (or now).
    pub fn usable_at(&self, at_ms: u64) -> std::collections::BTreeMap<String, String> {
        self.keys
            .iter()
            .filter(|(_, key)| match key.expired_ts {
                Some(expired) => at_ms <= expired,
                None => true,
            })
            .map(|(id, key)| (id.clone(), key.key.clone()))
            .collect()
    }

    /// Whether `key_id` is known and still valid at `at_ms`.
    pub fn is_fresh(&self, key_id: &str, at_ms: u64) -> bool {
        self.keys
            .get(key_id)
            .is_some_and(|key| key.expired_ts.is_none() && key.valid_until_ts >= at_ms)
    }
}

/// The cached keys of `server` (empty when none).
pub fn cached_server_keys(store: &Store, server: &ruma::ServerName) -> Result<CachedServerKeys> {
    Ok(store
        .get_json(SERVERNAME_KEYS, server.as_bytes())?
        .unwrap_or_default())
}

/// Merges freshly verified keys into the cache; a key keeps the latest validity seen.
pub async fn cache_server_keys(
    store: &Store,
    server: &ruma::ServerName,
    fresh: CachedServerKeys,
) -> Result<CachedServerKeys> {
    let mut cached = cached_server_keys(store, server)?;
    for (id, key) in fresh.keys {
        match cached.keys.get_mut(&id) {
            Some(existing) if existing.key == key.key => {
                existing.valid_until_ts = existing.valid_until_ts.max(key.valid_until_ts);
                if key.expired_ts.is_some() {
                    existing.expired_ts = key.expired_ts;
                }
            }
            _ => {
                cached.keys.insert(id, key);
            }
        }
    }
    let mut batch = WriteBatch::new();
    batch.put_json(SERVERNAME_KEYS, server.as_bytes().to_vec(), &cached);
    store.commit_lazy(batch).await?;
    Ok(cached)
}
