//! Retention: deleting media nobody accessed for a while, and created ids that expired unused,
//! with their thumbnails; files go when nothing references them any more.

use super::{
    Media, MediaRecord, PurgeReport, SERVERMEDIA_RECORD, SERVERMEDIASIZE_THUMBNAIL,
    ThumbnailRecord, USER_MEDIABYTES,
};
use crate::{error::Result, mutex::lock, storage::WriteBatch, users::now_ms};

impl Media {
    /// Deletes cached remote media last accessed before `remote_before_ms`, local media last
    /// accessed before `local_before_ms`, and created ids that expired unused, with their
    /// thumbnails; blobs go when nothing references them any more. `progress` is told
    /// (done, total) as it goes.
    pub async fn purge(
        &self,
        remote_before_ms: Option<u64>,
        local_before_ms: Option<u64>,
        progress: impl FnMut(usize, usize),
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
        self.delete_records(doomed, progress).await
    }

    /// Deletes media records (`(key, record)`) with their thumbnails; blobs go when nothing
    /// references them any more, and uploaders' quota usage drops.
    pub(super) async fn delete_records(
        &self,
        doomed: Vec<(Vec<u8>, MediaRecord)>,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<PurgeReport> {
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
