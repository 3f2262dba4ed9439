//! Media going out: downloads with the content checked against its hash, access times for
//! retention, and thumbnails made once per prepared size.

use ruma::ServerName;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt as _;

use super::{
    Download, Media, MediaRecord, SERVERMEDIA_RECORD, SERVERMEDIASIZE_THUMBNAIL, ThumbnailDownload,
    ThumbnailRecord, hex, media_key,
    thumbnails::{self, ThumbnailMethod},
};
use crate::{
    error::{Error, Result},
    mutex::lock,
    storage::{WriteBatch, compound_key},
    users::now_ms,
};

impl Media {
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
        refuse_quarantined(&record)?;
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
        refuse_quarantined(&record)?;
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
        let _rendering = self
            .inner
            .rendering
            .acquire()
            .await
            .map_err(|error| Error::Internal(format!("thumbnail queue: {error}")))?;
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
}

/// Quarantined media is served to nobody, and not fetched again from its server either: an
/// error, not `None`, so that the caller does not go and fetch it.
fn refuse_quarantined(record: &MediaRecord) -> Result<()> {
    if record.quarantined_by.is_some() {
        return Err(Error::NotFound("This media has been quarantined".into()));
    }
    Ok(())
}
