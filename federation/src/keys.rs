//! Other servers' signing keys: fetched from the server itself (or from configured notaries),
//! checked against their own signatures, cached in the store until `valid_until_ts`; and the
//! verification of signed events and requests that needs them.

use myelin_core::lock;
use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use myelin_core::{
    Error, Result,
    config::TrustedKeyServer,
    keys::{CachedKey, CachedServerKeys, ServerKeys, cache_server_keys, cached_server_keys},
    storage::Store,
    users::now_ms,
};
use ruma::{
    CanonicalJsonObject, OwnedServerName, ServerName,
    api::federation::discovery::{
        ServerSigningKeys, get_remote_server_keys_batch, get_server_keys,
    },
    serde::{Base64, Raw},
    signatures::PublicKeyMap,
};

use crate::client::FederationClient;

/// The longest we trust a key document into the future (the spec's 7-day cap for v5+ rooms).
const MAX_VALIDITY_MS: u64 = 7 * 24 * 3600 * 1000;
/// A failed fetch is not retried for this long.
const FAILURE_BACKOFF: Duration = Duration::from_secs(30);
/// Key documents as their servers signed them, for notary answers.
const SERVERNAME_KEYDOCUMENT: &str = "servername_keydocument";

pub struct KeyService {
    store: Store,
    own_name: OwnedServerName,
    own_keys: Arc<ServerKeys>,
    notaries: Vec<TrustedKeyServer>,
    client: Arc<FederationClient>,
    fetch_locks: Mutex<HashMap<OwnedServerName, Arc<tokio::sync::Mutex<()>>>>,
    failures: Mutex<HashMap<OwnedServerName, Instant>>,
}

impl KeyService {
    pub fn new(
        store: Store,
        own_name: OwnedServerName,
        own_keys: Arc<ServerKeys>,
        notaries: Vec<TrustedKeyServer>,
        client: Arc<FederationClient>,
    ) -> Self {
        Self {
            store,
            own_name,
            own_keys,
            notaries,
            client,
            fetch_locks: Mutex::default(),
            failures: Mutex::default(),
        }
    }

    fn own(&self) -> CachedServerKeys {
        use base64::Engine as _;
        let key = base64::engine::general_purpose::STANDARD_NO_PAD
            .encode(self.own_keys.key_pair.public_key());
        let mut keys = BTreeMap::from([(
            self.own_keys.key_id(),
            CachedKey {
                key,
                valid_until_ts: u64::MAX,
                expired_ts: None,
            },
        )]);
        for old in &self.own_keys.old_keys {
            keys.insert(
                old.key_id.clone(),
                CachedKey {
                    key: old.key.clone(),
                    valid_until_ts: old.expired_ts,
                    expired_ts: Some(old.expired_ts),
                },
            );
        }
        CachedServerKeys { keys }
    }

    /// Every key of `server` we know (fetching when one of `wanted` is unknown or no longer
    /// valid), for checking many signatures made at different times.
    pub async fn server_keys(
        &self,
        server: &ServerName,
        wanted: &[String],
    ) -> Result<CachedServerKeys> {
        if server == self.own_name {
            return Ok(self.own());
        }
        self.keys_for(server, wanted, now_ms()).await?;
        cached_server_keys(&self.store, server)
    }

    /// Keys of `server` that can check signatures made at `at_ms`, fetching when one of
    /// `wanted` is unknown or its validity ran out before `at_ms`.
    pub async fn keys_for(
        &self,
        server: &ServerName,
        wanted: &[String],
        at_ms: u64,
    ) -> Result<BTreeMap<String, String>> {
        if server == self.own_name {
            return Ok(self.own().usable_at(at_ms));
        }
        let cached = cached_server_keys(&self.store, server)?;
        let satisfied = |keys: &CachedServerKeys| {
            wanted.iter().all(|id| {
                keys.is_fresh(id, at_ms)
                    || keys
                        .keys
                        .get(id)
                        .is_some_and(|key| key.expired_ts.is_some_and(|expired| at_ms <= expired))
            })
        };
        if satisfied(&cached) {
            return Ok(cached.usable_at(at_ms));
        }
        let fetch_lock = {
            let mut locks = lock(&self.fetch_locks);
            Arc::clone(locks.entry(server.to_owned()).or_default())
        };
        let _guard = fetch_lock.lock().await;
        // Someone else may have fetched while we waited.
        let cached = cached_server_keys(&self.store, server)?;
        if satisfied(&cached) {
            return Ok(cached.usable_at(at_ms));
        }
        let recently_failed = lock(&self.failures)
            .get(server)
            .is_some_and(|when| when.elapsed() < FAILURE_BACKOFF);
        if !recently_failed {
            match self.fetch(server).await {
                Ok(fresh) => {
                    let merged = cache_server_keys(&self.store, server, fresh).await?;
                    return Ok(merged.usable_at(at_ms));
                }
                Err(error) => {
                    tracing::info!(%server, %error, "could not fetch signing keys");
                    lock(&self.failures).insert(server.to_owned(), Instant::now());
                }
            }
        }
        // What we have may still be enough (an old signature with a known key).
        Ok(cached.usable_at(at_ms))
    }

    async fn fetch(&self, server: &ServerName) -> Result<CachedServerKeys> {
        if self.notaries.is_empty() {
            let response = self
                .client
                .send_unsigned(server, get_server_keys::v2::Request::new())
                .await?;
            let keys = verify_key_document(server, &response.server_key, None)?;
            self.keep_document(server, &response.server_key).await?;
            return Ok(keys);
        }
        let mut last_error = Error::Unavailable(format!("no notary knew the keys of {server}"));
        for notary in &self.notaries {
            let Ok(notary_name) = OwnedServerName::try_from(notary.server_name.as_str()) else {
                continue;
            };
            let mut criteria = BTreeMap::new();
            criteria.insert(server.to_owned(), BTreeMap::new());
            let request = get_remote_server_keys_batch::v2::Request::new(criteria);
            match self.client.send_unsigned(&notary_name, request).await {
                Ok(response) => {
                    for document in response.server_keys {
                        let notary_check = (!notary.verify_keys.is_empty())
                            .then(|| (notary_name.as_str(), &notary.verify_keys));
                        match verify_key_document(server, &document, notary_check) {
                            Ok(keys) => {
                                self.keep_document(server, &document).await?;
                                return Ok(keys);
                            }
                            Err(error) => last_error = error,
                        }
                    }
                }
                Err(error) => last_error = error,
            }
        }
        Err(last_error)
    }

    async fn keep_document(
        &self,
        server: &ServerName,
        document: &Raw<ServerSigningKeys>,
    ) -> Result<()> {
        let mut batch = myelin_core::storage::WriteBatch::new();
        batch.put(
            SERVERNAME_KEYDOCUMENT,
            server.as_bytes().to_vec(),
            document.json().get().as_bytes().to_vec(),
        );
        self.store.commit_lazy(batch).await
    }

    /// The key document of `server` as a notary serves it: the server's own signed document
    /// (fetched when we have none that is valid long enough) with our signature added.
    pub async fn notary_document(
        &self,
        server: &ServerName,
        minimum_valid_until_ms: u64,
    ) -> Result<Option<serde_json::Value>> {
        let own_valid = 24 * 3600 * 1000;
        if server == self.own_name {
            return Ok(Some(self.own_keys.key_document(server, own_valid)?));
        }
        let read = |store: &Store| -> Result<Option<CanonicalJsonObject>> {
            Ok(store
                .get(SERVERNAME_KEYDOCUMENT, server.as_bytes())?
                .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
        };
        let valid_until = |document: &CanonicalJsonObject| match document.get("valid_until_ts") {
            Some(ruma::CanonicalJsonValue::Integer(ts)) => {
                u64::try_from(i64::from(*ts)).unwrap_or(0)
            }
            _ => 0,
        };
        let mut document = read(&self.store)?;
        if document
            .as_ref()
            .is_none_or(|doc| valid_until(doc) < minimum_valid_until_ms.max(now_ms()))
        {
            if let Ok(fresh) = self.fetch(server).await {
                cache_server_keys(&self.store, server, fresh).await?;
            }
            document = read(&self.store)?;
        }
        let Some(mut document) = document else {
            return Ok(None);
        };
        ruma::signatures::sign_json(
            self.own_name.as_str(),
            &self.own_keys.key_pair,
            &mut document,
        )
        .map_err(|error| Error::Internal(format!("signing a notary answer: {error}")))?;
        Ok(Some(
            serde_json::to_value(document).map_err(|error| Error::Internal(error.to_string()))?,
        ))
    }

    /// Checks a request's `X-Matrix` signature.
    pub async fn verify_request(
        &self,
        xmatrix: &ruma::api::federation::authentication::XMatrix,
        request: &http::Request<Vec<u8>>,
    ) -> Result<()> {
        let keys = self
            .keys_for(&xmatrix.origin, &[xmatrix.key.to_string()], now_ms())
            .await
            .map_err(|error| Error::Unauthorized(format!("Cannot check the signature: {error}")))?;
        if !keys.contains_key(xmatrix.key.as_str()) {
            return Err(Error::Unauthorized(format!(
                "Unknown key {} of {}",
                xmatrix.key, xmatrix.origin
            )));
        }
        let set = keys
            .into_iter()
            .filter_map(|(id, key)| Base64::parse(key).ok().map(|key| (id, key)))
            .collect();
        let map = PublicKeyMap::from([(xmatrix.origin.to_string(), set)]);
        xmatrix
            .verify_http_request(request, &self.own_name, &map)
            .map_err(|error| Error::Unauthorized(format!("Bad X-Matrix signature: {error}")))
    }
}

/// Checks a key document: it is for `server`, signed by (one of) the keys it lists, and, for a
/// notary answer with configured notary keys, by the notary too.
pub fn verify_key_document(
    server: &ServerName,
    document: &Raw<ServerSigningKeys>,
    notary: Option<(&str, &BTreeMap<String, String>)>,
) -> Result<CachedServerKeys> {
    let mut object: CanonicalJsonObject = serde_json::from_str(document.json().get())
        .map_err(|error| Error::BadJson(format!("Unreadable key document: {error}")))?;
    // Check the signatures we have keys for: the server's own and, when configured, the
    // notary's (a notary answer also carries signatures of servers we know nothing of).
    if let Some(ruma::CanonicalJsonValue::Object(signatures)) = object.get_mut("signatures") {
        signatures.retain(|entity, _| {
            entity == server.as_str() || notary.is_some_and(|(name, _)| name == entity)
        });
    }
    let parsed: ServerSigningKeys = document
        .deserialize()
        .map_err(|error| Error::BadJson(format!("Unreadable key document: {error}")))?;
    if parsed.server_name != server {
        return Err(Error::Forbidden(format!(
            "Key document is for {}, not {server}",
            parsed.server_name
        )));
    }
    let mut map = PublicKeyMap::new();
    map.insert(
        server.to_string(),
        parsed
            .verify_keys
            .iter()
            .map(|(id, key)| (id.to_string(), key.key.clone()))
            .collect(),
    );
    if let Some((notary_name, notary_keys)) = notary {
        map.insert(
            notary_name.to_owned(),
            notary_keys
                .iter()
                .filter_map(|(id, key)| Base64::parse(key).ok().map(|key| (id.clone(), key)))
                .collect(),
        );
    }
    ruma::signatures::verify_json(&map, &object).map_err(|error| {
        Error::Forbidden(format!(
            "Key document of {server} is not validly signed: {error}"
        ))
    })?;
    let valid_until = u64::from(parsed.valid_until_ts.get()).min(now_ms() + MAX_VALIDITY_MS);
    let mut keys = CachedServerKeys::default();
    for (id, key) in parsed.verify_keys {
        keys.keys.insert(
            id.to_string(),
            CachedKey {
                key: key.key.encode(),
                valid_until_ts: valid_until,
                expired_ts: None,
            },
        );
    }
    for (id, key) in parsed.old_verify_keys {
        keys.keys.insert(
            id.to_string(),
            CachedKey {
                key: key.key.encode(),
                valid_until_ts: u64::from(key.expired_ts.get()),
                expired_ts: Some(u64::from(key.expired_ts.get())),
            },
        );
    }
    Ok(keys)
}
