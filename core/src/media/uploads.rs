//! Media coming in: finished uploads (direct or to a created id), created ids waiting for
//! their upload, and content fetched from other servers or for previews.

use ruma::{ServerName, UserId};

use super::{
    MAX_PENDING_PER_USER, Media, MediaRecord, RemoteContent, SERVERMEDIA_RECORD, Staged,
    USER_MEDIABYTES, media_key,
};
use crate::{
    error::{Error, Result},
    storage::{WriteBatch, compound_key},
    users::{now_ms, random_string},
};

impl Media {
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
            quarantined_by: None,
            safe_from_quarantine: false,
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
            quarantined_by: None,
            safe_from_quarantine: false,
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

    /// Caches media fetched from another server; returns its record.
    pub async fn store_remote(
        &self,
        server: &ServerName,
        media_id: &str,
        content: RemoteContent,
    ) -> Result<MediaRecord> {
        self.store_fetched(server, media_id, content, true).await
    }

    /// Stores fetched content under `(server, media_id)`: a cache of another server's media
    /// (`remote`), or this server's own (preview images).
    pub(super) async fn store_fetched(
        &self,
        server: &ServerName,
        media_id: &str,
        content: RemoteContent,
        remote: bool,
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
            remote,
            pending_until_ms: None,
            quarantined_by: None,
            safe_from_quarantine: false,
        };
        let mut batch = WriteBatch::new();
        batch.put_json(SERVERMEDIA_RECORD, media_key(server, media_id), &record);
        self.add_reference(&mut batch, &sha256, 1)?;
        self.store().commit(batch).await?;
        Ok(record)
    }
}
