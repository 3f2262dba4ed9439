//! The server's ed25519 signing key: generated once, kept in the store, used to sign every PDU
//! (and, with the federation issue, every outbound request).

use ruma::signatures::Ed25519KeyPair;
use serde::{Deserialize, Serialize};

use crate::{
    Error, Result,
    storage::{SCHEMA_TREE, Store, WriteBatch},
    users::random_string,
};

const SIGNING_KEY: &[u8] = b"signing_key";

#[derive(Serialize, Deserialize)]
struct StoredKey {
    /// PKCS#8 DER document, base64.
    document: String,
    version: String,
}

/// The signing key of this server.
pub struct ServerKeys {
    pub key_pair: Ed25519KeyPair,
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
            return Ok(Self { key_pair });
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
        Ok(Self { key_pair })
    }

    /// `ed25519:<version>`.
    pub fn key_id(&self) -> String {
        format!("ed25519:{}", self.key_pair.version())
    }
}
