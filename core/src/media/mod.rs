//! The media repository: uploads (direct, and the asynchronous create-then-upload), downloads
//! with their hash checked against the content, thumbnails made once and cached, remote media
//! cached locally, quotas and retention. Metadata lives in the store; bytes in a
//! [`blobs::BlobStore`] keyed by SHA-256, so identical files are stored once.

pub mod admin;
mod blobs;
mod previews;
mod retention;
mod serving;
pub mod thumbnails;
mod uploads;

use std::{
    collections::HashSet,
    path::PathBuf,
    sync::{Arc, Mutex},
};

use ruma::{OwnedServerName, OwnedUserId, ServerName, UserId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt as _;

use self::blobs::{BlobRead, BlobStore, FileBlobStore};
use crate::{
    config::Config,
    error::{Error, Result},
    mutex::lock,
    storage::{Store, WriteBatch, compound_key},
    users::random_string,
};

/// `(server, media id)` → [`MediaRecord`].
const SERVERMEDIA_RECORD: &str = "servermedia_record";
/// `(server, media id, size key)` → [`ThumbnailRecord`].
const SERVERMEDIASIZE_THUMBNAIL: &str = "servermediasize_thumbnail";
/// SHA-256 → how many records (media and thumbnails) use the blob.
const SHA256_REFERENCES: &str = "sha256_references";
/// user → bytes of media they uploaded (for the quota).
const USER_MEDIABYTES: &str = "user_mediabytes";

/// Pending media ids one user may hold at once (`POST /create`), as Synapse's default.
const MAX_PENDING_PER_USER: usize = 50;

/// What is known of one piece of media.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MediaRecord {
    /// The content's hash; `None` while a created id waits for its upload.
    pub sha256: Option<String>,
    pub content_type: Option<String>,
    pub filename: Option<String>,
    pub size: u64,
    pub uploader: Option<OwnedUserId>,
    pub created_ms: u64,
    pub last_access_ms: u64,
    /// Fetched from another server (a cache, subject to remote retention).
    pub remote: bool,
    /// When a created, never uploaded id expires.
    pub pending_until_ms: Option<u64>,
    /// The administrator who quarantined it: it is served to nobody.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantined_by: Option<OwnedUserId>,
    /// Protected from quarantine by an administrator.
    #[serde(default)]
    pub safe_from_quarantine: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThumbnailRecord {
    pub sha256: String,
    pub content_type: String,
    pub width: u32,
    pub height: u32,
    pub size: u64,
}

/// An upload being written to a staging file, hashed and counted as it goes.
pub struct Staged {
    file: tokio::fs::File,
    path: PathBuf,
    hasher: Sha256,
    size: u64,
    limit: u64,
}

impl Staged {
    /// Appends a chunk; refuses to go past the size limit (the staging file is removed when the
    /// upload is dropped).
    pub async fn write(&mut self, chunk: &[u8]) -> Result<()> {
        self.size += chunk.len() as u64;
        if self.size > self.limit {
            return Err(Error::TooLarge(format!(
                "Uploads are limited to {} bytes",
                self.limit
            )));
        }
        self.hasher.update(chunk);
        self.file
            .write_all(chunk)
            .await
            .map_err(|error| Error::Storage(format!("staging an upload: {error}")))
    }

    pub fn size(&self) -> u64 {
        self.size
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        // Committed uploads were renamed away; this only removes abandoned ones.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A download: the record and a reader of its bytes (or of the asked range).
pub struct Download {
    pub record: MediaRecord,
    pub blob: BlobRead,
}

/// A thumbnail download.
pub struct ThumbnailDownload {
    pub content_type: String,
    pub blob: BlobRead,
}

pub use self::admin::MediaEntry;
pub use crate::ports::RemoteContent;

/// What a purge removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PurgeReport {
    pub media: usize,
    pub bytes: u64,
}

#[derive(Clone)]
pub struct Media {
    inner: Arc<MediaInner>,
}

struct MediaInner {
    store: Store,
    config: Arc<Config>,
    server_name: OwnedServerName,
    blobs: Arc<dyn BlobStore>,
    staging: PathBuf,
    /// Blobs whose hash was checked against their content since the start.
    verified: Mutex<HashSet<String>>,
    write_lock: tokio::sync::Mutex<()>,
    /// Thumbnails rendered at once: one per core. Rendering is CPU-bound, and each render holds
    /// up to the source's decoded size in memory, so more at once only adds memory.
    rendering: tokio::sync::Semaphore,
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn media_key(server: &ServerName, media_id: &str) -> Vec<u8> {
    compound_key(&[server.as_bytes(), media_id.as_bytes()])
}

/// Media ids are what the spec allows: `[A-Za-z0-9_-]+`.
pub fn valid_media_id(media_id: &str) -> bool {
    !media_id.is_empty()
        && media_id.len() <= 255
        && media_id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-')
}

impl Media {
    pub fn new(store: Store, config: Arc<Config>, server_name: OwnedServerName) -> Result<Self> {
        let root = config.server.data_dir.join("media");
        let staging = root.join("staging");
        std::fs::create_dir_all(&staging).map_err(|error| {
            Error::Storage(format!("cannot create {}: {error}", staging.display()))
        })?;
        let blobs: Arc<dyn BlobStore> = Arc::new(FileBlobStore::new(root.join("blobs"))?);
        Ok(Self {
            inner: Arc::new(MediaInner {
                store,
                config,
                server_name,
                blobs,
                staging,
                verified: Mutex::new(HashSet::new()),
                write_lock: tokio::sync::Mutex::new(()),
                rendering: tokio::sync::Semaphore::new(
                    std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
                ),
            }),
        })
    }

    fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn server_name(&self) -> &ServerName {
        &self.inner.server_name
    }

    pub fn max_upload_bytes(&self) -> u64 {
        self.inner.config.media.max_upload_bytes
    }

    /// Starts an upload of at most the configured size.
    pub async fn stage(&self) -> Result<Staged> {
        self.stage_with_limit(self.max_upload_bytes()).await
    }

    async fn stage_with_limit(&self, limit: u64) -> Result<Staged> {
        let path = self.inner.staging.join(random_string(24));
        let file = tokio::fs::File::create(&path)
            .await
            .map_err(|error| Error::Storage(format!("staging an upload: {error}")))?;
        Ok(Staged {
            file,
            path,
            hasher: Sha256::new(),
            size: 0,
            limit,
        })
    }

    pub fn record(&self, server: &ServerName, media_id: &str) -> Result<Option<MediaRecord>> {
        self.store()
            .get_json(SERVERMEDIA_RECORD, &media_key(server, media_id))
    }

    fn usage(&self, user_id: &UserId) -> Result<u64> {
        Ok(self
            .store()
            .get(USER_MEDIABYTES, user_id.as_bytes())?
            .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_slice()).ok())
            .map_or(0, u64::from_be_bytes))
    }

    /// Refuses an upload of `size` more bytes past the user's quota.
    pub fn check_quota(&self, user_id: &UserId, size: u64) -> Result<()> {
        if let Some(quota) = self.inner.config.media.user_quota_bytes
            && self.usage(user_id)? + size > quota
        {
            let config = &self.inner.config;
            return Err(Error::UserLimitExceeded {
                message: format!("This upload would exceed your media quota of {quota} bytes"),
                info_uri: config
                    .media
                    .quota_info_uri
                    .clone()
                    .unwrap_or_else(|| config.client_base_url()),
            });
        }
        Ok(())
    }

    /// Syncs a staged file and moves it into the blob store; returns its hash.
    async fn commit_blob(&self, mut staged: Staged) -> Result<(String, u64)> {
        staged
            .file
            .sync_all()
            .await
            .map_err(|error| Error::Storage(format!("staging an upload: {error}")))?;
        let sha256 = hex(&std::mem::take(&mut staged.hasher).finalize());
        self.inner.blobs.commit(&staged.path, &sha256).await?;
        lock(&self.inner.verified).insert(sha256.clone());
        Ok((sha256, staged.size))
    }

    fn add_reference(&self, batch: &mut WriteBatch, sha256: &str, delta: i64) -> Result<u64> {
        let current = self
            .store()
            .get(SHA256_REFERENCES, sha256.as_bytes())?
            .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_slice()).ok())
            .map_or(0, u64::from_be_bytes);
        let next = current.saturating_add_signed(delta);
        if next == 0 {
            batch.delete(SHA256_REFERENCES, sha256.as_bytes().to_vec());
        } else {
            batch.put(
                SHA256_REFERENCES,
                sha256.as_bytes().to_vec(),
                next.to_be_bytes().to_vec(),
            );
        }
        Ok(next)
    }
}
