//! The media repository: uploads (direct, and the asynchronous create-then-upload), downloads
//! with their hash checked against the content, thumbnails made once and cached, remote media
//! cached locally, quotas and retention. Metadata lives in the store; bytes in a
//! [`blobs::BlobStore`] keyed by SHA-256, so identical files are stored once.

pub mod blobs;
mod previews;
pub mod thumbnails;

use std::{
    collections::HashSet,
    path::PathBuf,
    sync::{Arc, Mutex},
};

use ruma::{OwnedServerName, OwnedUserId, ServerName, UserId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use self::{
    blobs::{BlobRead, BlobStore, FileBlobStore},
    thumbnails::ThumbnailMethod,
};
use crate::{
    Error, Result,
    config::Config,
    lock,
    storage::{Store, WriteBatch, compound_key},
    users::{now_ms, random_string},
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

/// Media another server sent us.
pub struct RemoteContent {
    pub bytes: Vec<u8>,
    pub content_type: Option<String>,
    pub filename: Option<String>,
}

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
            return Err(Error::TooLarge(format!(
                "This upload would exceed your media quota of {quota} bytes"
            )));
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

    /// Finishes an upload: the blob goes into the store and the media record is written,
    /// durably, before this returns. `media_id` is a created id (asynchronous upload) or
    /// `None` for a fresh one. Returns the media id.
    pub async fn finish_upload(
        &self,
        staged: Staged,
        uploader: &UserId,
        media_id: Option<&str>,
        content_type: Option<String>,
        filename: Option<String>,
    ) -> Result<String> {
        let _guard = self.inner.write_lock.lock().await;
        self.check_quota(uploader, staged.size())?;
        let server = self.inner.server_name.clone();
        let media_id = match media_id {
            Some(media_id) => {
                let record = self
                    .record(&server, media_id)?
                    .ok_or_else(|| Error::NotFound("Unknown media id".into()))?;
                if record.uploader.as_deref() != Some(uploader) {
                    return Err(Error::Forbidden(
                        "This media id was created by another user".into(),
                    ));
                }
                if record.sha256.is_some() {
                    return Err(Error::CannotOverwriteMedia);
                }
                if record
                    .pending_until_ms
                    .is_some_and(|until| until < now_ms())
                {
                    return Err(Error::NotFound("This media id has expired".into()));
                }
                media_id.to_owned()
            }
            None => random_string(24),
        };
        let (sha256, size) = self.commit_blob(staged).await?;
        let now = now_ms();
        let record = MediaRecord {
            sha256: Some(sha256.clone()),
            content_type,
            filename,
            size,
            uploader: Some(uploader.to_owned()),
            created_ms: now,
            last_access_ms: now,
            remote: false,
            pending_until_ms: None,
        };
        let mut batch = WriteBatch::new();
        batch.put_json(SERVERMEDIA_RECORD, media_key(&server, &media_id), &record);
        self.add_reference(&mut batch, &sha256, 1)?;
        batch.put(
            USER_MEDIABYTES,
            uploader.as_bytes().to_vec(),
            (self.usage(uploader)? + size).to_be_bytes().to_vec(),
        );
        self.store().commit(batch).await?;
        Ok(media_id)
    }

    /// Reserves a media id for a later upload (`POST /_matrix/media/v1/create`); returns it
    /// and when it expires.
    pub async fn create_pending(&self, uploader: &UserId) -> Result<(String, u64)> {
        let _guard = self.inner.write_lock.lock().await;
        let now = now_ms();
        let pending = self
            .store()
            .scan_prefix(
                SERVERMEDIA_RECORD,
                &compound_key(&[self.inner.server_name.as_bytes(), b""]),
                usize::MAX,
            )?
            .into_iter()
            .filter_map(|(_, value)| serde_json::from_slice::<MediaRecord>(&value).ok())
            .filter(|record| {
                record.uploader.as_deref() == Some(uploader)
                    && record.sha256.is_none()
                    && record.pending_until_ms.is_some_and(|until| until >= now)
            })
            .count();
        if pending >= MAX_PENDING_PER_USER {
            return Err(Error::LimitExceeded {
                retry_after_ms: 60_000,
            });
        }
        let media_id = random_string(24);
        let until = now + self.inner.config.media.unused_id_lifetime_ms;
        let record = MediaRecord {
            sha256: None,
            content_type: None,
            filename: None,
            size: 0,
            uploader: Some(uploader.to_owned()),
            created_ms: now,
            last_access_ms: now,
            remote: false,
            pending_until_ms: Some(until),
        };
        let mut batch = WriteBatch::new();
        batch.put_json(
            SERVERMEDIA_RECORD,
            media_key(&self.inner.server_name, &media_id),
            &record,
        );
        self.store().commit(batch).await?;
        Ok((media_id, until))
    }

    /// Checks a blob's content against its hash once per process; a mismatch is logged and
    /// the content is not served.
    async fn verify(&self, sha256: &str) -> Result<()> {
        if lock(&self.inner.verified).contains(sha256) {
            return Ok(());
        }
        let Some(mut blob) = self.inner.blobs.read(sha256, None).await? else {
            return Err(Error::Storage(format!("media blob {sha256} is missing")));
        };
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 256 * 1024];
        loop {
            let read = blob
                .reader
                .read(&mut buffer)
                .await
                .map_err(|error| Error::Storage(format!("reading media: {error}")))?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
        }
        let actual = hex(&hasher.finalize());
        if actual != sha256 {
            tracing::error!(expected = %sha256, %actual, "media blob is corrupted on disk; not serving it");
            return Err(Error::Storage(format!("media blob {sha256} is corrupted")));
        }
        lock(&self.inner.verified).insert(sha256.to_owned());
        Ok(())
    }

    /// Opens local or cached media for download (`range`: start and length). `None` when
    /// unknown; `MediaNotYetUploaded` while a created id waits for its upload.
    pub async fn open(
        &self,
        server: &ServerName,
        media_id: &str,
        range: Option<(u64, u64)>,
    ) -> Result<Option<Download>> {
        let Some(record) = self.record(server, media_id)? else {
            return Ok(None);
        };
        let Some(sha256) = record.sha256.clone() else {
            if record
                .pending_until_ms
                .is_some_and(|until| until < now_ms())
            {
                return Ok(None);
            }
            return Err(Error::MediaNotYetUploaded);
        };
        self.verify(&sha256).await?;
        let Some(blob) = self.inner.blobs.read(&sha256, range).await? else {
            return Err(Error::Storage(format!("media blob {sha256} is missing")));
        };
        self.touch(server, media_id, &record);
        Ok(Some(Download { record, blob }))
    }

    /// Notes an access for retention (at most once an hour per media; never blocks a download).
    fn touch(&self, server: &ServerName, media_id: &str, record: &MediaRecord) {
        let now = now_ms();
        if now.saturating_sub(record.last_access_ms) < 3_600_000 {
            return;
        }
        let mut updated = record.clone();
        updated.last_access_ms = now;
        let mut batch = WriteBatch::new();
        batch.put_json(SERVERMEDIA_RECORD, media_key(server, media_id), &updated);
        if let Err(error) = self.store().apply_now(batch) {
            tracing::warn!(%error, "cannot record a media access");
        }
    }

    /// Caches media fetched from another server; returns its record.
    pub async fn store_remote(
        &self,
        server: &ServerName,
        media_id: &str,
        content: RemoteContent,
    ) -> Result<MediaRecord> {
        let mut staged = self.stage_with_limit(self.max_upload_bytes()).await?;
        staged.write(&content.bytes).await?;
        let _guard = self.inner.write_lock.lock().await;
        if let Some(existing) = self.record(server, media_id)? {
            return Ok(existing);
        }
        let (sha256, size) = self.commit_blob(staged).await?;
        let now = now_ms();
        let record = MediaRecord {
            sha256: Some(sha256.clone()),
            content_type: content.content_type,
            filename: content.filename,
            size,
            uploader: None,
            created_ms: now,
            last_access_ms: now,
            remote: true,
            pending_until_ms: None,
        };
        let mut batch = WriteBatch::new();
        batch.put_json(SERVERMEDIA_RECORD, media_key(server, media_id), &record);
        self.add_reference(&mut batch, &sha256, 1)?;
        self.store().commit(batch).await?;
        Ok(record)
    }

    /// Turns a record stored as fetched media into this server's own (preview images).
    fn mark_local(
        &self,
        server: &ServerName,
        media_id: &str,
        mut record: MediaRecord,
    ) -> Result<()> {
        record.remote = false;
        let mut batch = WriteBatch::new();
        batch.put_json(SERVERMEDIA_RECORD, media_key(server, media_id), &record);
        self.store().apply_now(batch)
    }

    /// The thumbnail serving a request, made (once) if needed. `None` when the media is
    /// unknown; an error when it cannot be thumbnailed.
    pub async fn thumbnail(
        &self,
        server: &ServerName,
        media_id: &str,
        width: u32,
        height: u32,
        method: ThumbnailMethod,
        animated: bool,
    ) -> Result<Option<ThumbnailDownload>> {
        let Some(record) = self.record(server, media_id)? else {
            return Ok(None);
        };
        let content_type = record.content_type.clone().unwrap_or_default();
        let content_type = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        // An animated thumbnail asked of an animated format: the original is the best answer
        // (the spec lets servers return it; Conduit-family servers do the same).
        if animated && matches!(content_type.as_str(), "image/gif" | "image/webp") {
            return Ok(self.open(server, media_id, None).await?.map(|download| {
                ThumbnailDownload {
                    content_type,
                    blob: download.blob,
                }
            }));
        }
        if !thumbnails::is_thumbnailable(&content_type) {
            return Err(Error::InvalidParam(format!(
                "Cannot make a thumbnail of {content_type}"
            )));
        }
        let (width, height) = thumbnails::choose_size(width, height, method);
        let size_key = format!("{width}x{height}-{}", method.as_str());
        let row = compound_key(&[server.as_bytes(), media_id.as_bytes(), size_key.as_bytes()]);
        if let Some(thumbnail) = self
            .store()
            .get_json::<ThumbnailRecord>(SERVERMEDIASIZE_THUMBNAIL, &row)?
            && let Some(blob) = self.inner.blobs.read(&thumbnail.sha256, None).await?
        {
            return Ok(Some(ThumbnailDownload {
                content_type: thumbnail.content_type,
                blob,
            }));
        }
        let Some(mut download) = self.open(server, media_id, None).await? else {
            return Ok(None);
        };
        let mut source = Vec::with_capacity(usize::try_from(record.size).unwrap_or(0));
        download
            .blob
            .reader
            .read_to_end(&mut source)
            .await
            .map_err(|error| Error::Storage(format!("reading media: {error}")))?;
        let max_pixels = self.inner.config.media.max_thumbnail_source_pixels;
        let rendered = tokio::task::spawn_blocking(move || {
            thumbnails::render(&source, width, height, method, max_pixels)
        })
        .await
        .map_err(|error| Error::Internal(format!("thumbnail task: {error}")))??;
        let mut staged = self.stage_with_limit(u64::MAX).await?;
        staged.write(&rendered.bytes).await?;
        let _guard = self.inner.write_lock.lock().await;
        let (sha256, size) = self.commit_blob(staged).await?;
        let thumbnail = ThumbnailRecord {
            sha256: sha256.clone(),
            content_type: rendered.content_type.to_owned(),
            width: rendered.width,
            height: rendered.height,
            size,
        };
        let mut batch = WriteBatch::new();
        if self
            .store()
            .get_json::<ThumbnailRecord>(SERVERMEDIASIZE_THUMBNAIL, &row)?
            .is_none()
        {
            self.add_reference(&mut batch, &sha256, 1)?;
        }
        batch.put_json(SERVERMEDIASIZE_THUMBNAIL, row, &thumbnail);
        self.store().commit(batch).await?;
        let blob = self
            .inner
            .blobs
            .read(&sha256, None)
            .await?
            .ok_or_else(|| Error::Storage("thumbnail blob vanished".into()))?;
        Ok(Some(ThumbnailDownload {
            content_type: thumbnail.content_type,
            blob,
        }))
    }

    /// Deletes cached remote media last accessed before `remote_before_ms`, local media last
    /// accessed before `local_before_ms`, and created ids that expired unused, with their
    /// thumbnails; blobs go when nothing references them any more. `progress` is told
    /// (done, total) as it goes.
    pub async fn purge(
        &self,
        remote_before_ms: Option<u64>,
        local_before_ms: Option<u64>,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<PurgeReport> {
        let now = now_ms();
        let mut doomed = Vec::new();
        for (key, value) in self
            .store()
            .scan_prefix(SERVERMEDIA_RECORD, b"", usize::MAX)?
        {
            let Ok(record) = serde_json::from_slice::<MediaRecord>(&value) else {
                continue;
            };
            let expired_pending =
                record.sha256.is_none() && record.pending_until_ms.is_some_and(|until| until < now);
            let old = if record.remote {
                remote_before_ms.is_some_and(|before| record.last_access_ms < before)
            } else {
                local_before_ms.is_some_and(|before| record.last_access_ms < before)
            };
            if expired_pending || old {
                doomed.push((key, record));
            }
        }
        let total = doomed.len();
        let mut report = PurgeReport::default();
        for (done, (key, record)) in doomed.into_iter().enumerate() {
            let _guard = self.inner.write_lock.lock().await;
            let mut batch = WriteBatch::new();
            let mut unreferenced = Vec::new();
            batch.delete(SERVERMEDIA_RECORD, key.clone());
            if let Some(sha256) = &record.sha256
                && self.add_reference(&mut batch, sha256, -1)? == 0
            {
                unreferenced.push(sha256.clone());
            }
            let mut thumbnail_prefix = key.clone();
            thumbnail_prefix.push(crate::storage::SEPARATOR);
            for (thumbnail_key, value) in self.store().scan_prefix(
                SERVERMEDIASIZE_THUMBNAIL,
                &thumbnail_prefix,
                usize::MAX,
            )? {
                batch.delete(SERVERMEDIASIZE_THUMBNAIL, thumbnail_key);
                if let Ok(thumbnail) = serde_json::from_slice::<ThumbnailRecord>(&value)
                    && self.add_reference(&mut batch, &thumbnail.sha256, -1)? == 0
                {
                    unreferenced.push(thumbnail.sha256);
                }
            }
            if let Some(uploader) = &record.uploader
                && !record.remote
                && record.size > 0
            {
                let usage = self.usage(uploader)?.saturating_sub(record.size);
                batch.put(
                    USER_MEDIABYTES,
                    uploader.as_bytes().to_vec(),
                    usage.to_be_bytes().to_vec(),
                );
            }
            self.store().commit(batch).await?;
            for sha256 in unreferenced {
                self.inner.blobs.delete(&sha256).await?;
                lock(&self.inner.verified).remove(&sha256);
            }
            report.media += 1;
            report.bytes += record.size;
            progress(done + 1, total);
        }
        Ok(report)
    }

    /// Runs the retention policy (and expires unused created ids) every hour until `stopped`.
    pub fn start_retention(
        &self,
        mut stopped: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let media = self.clone();
        tokio::spawn(async move {
            loop {
                let config = &media.inner.config.media;
                let now = now_ms();
                let day = 86_400_000u64;
                let remote = config
                    .remote_retention_days
                    .map(|days| now.saturating_sub(days.saturating_mul(day)));
                let local = config
                    .local_retention_days
                    .map(|days| now.saturating_sub(days.saturating_mul(day)));
                match media.purge(remote, local, |_, _| {}).await {
                    Ok(report) if report.media > 0 => {
                        tracing::info!(
                            media = report.media,
                            bytes = report.bytes,
                            "media retention purged"
                        );
                    }
                    Ok(_) => {}
                    Err(error) => tracing::error!(%error, "media retention failed"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_secs(3600)) => {}
                    _ = stopped.changed() => return,
                }
            }
        })
    }
}
