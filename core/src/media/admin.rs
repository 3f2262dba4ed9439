//! Media as administrators manage it: every record listed, one or many deleted, quarantined
//! (served to nobody) or protected from quarantine.

use ruma::{OwnedServerName, ServerName, UserId};

use super::{Media, MediaRecord, PurgeReport, SERVERMEDIA_RECORD, media_key};
use crate::{
    error::{Error, Result},
    storage::{WriteBatch, split_key},
};

/// One media record with its address.
#[derive(Debug, Clone)]
pub struct MediaEntry {
    pub server: OwnedServerName,
    pub media_id: String,
    pub record: MediaRecord,
}

impl Media {
    /// Every media record, local and cached, in key order.
    pub fn entries(&self) -> Result<Vec<MediaEntry>> {
        let mut entries = Vec::new();
        for (key, value) in self
            .store()
            .scan_prefix(SERVERMEDIA_RECORD, b"", usize::MAX)?
        {
            let parts = split_key(&key);
            let (Some(server), Some(media_id)) = (parts.first(), parts.get(1)) else {
                continue;
            };
            let (Ok(server), Ok(media_id)) =
                (std::str::from_utf8(server), std::str::from_utf8(media_id))
            else {
                continue;
            };
            let (Ok(server), Ok(record)) = (
                OwnedServerName::try_from(server),
                serde_json::from_slice::<MediaRecord>(&value),
            ) else {
                continue;
            };
            entries.push(MediaEntry {
                server,
                media_id: media_id.to_owned(),
                record,
            });
        }
        Ok(entries)
    }

    /// Deletes media (with thumbnails and unreferenced files).
    pub async fn delete_entries(&self, entries: &[MediaEntry]) -> Result<PurgeReport> {
        let doomed = entries
            .iter()
            .map(|entry| {
                (
                    media_key(&entry.server, &entry.media_id),
                    entry.record.clone(),
                )
            })
            .collect();
        self.delete_records(doomed, |_, _| {}).await
    }

    /// Quarantines media (`by` the administrator) or lifts it (`None`); protected media cannot
    /// be quarantined.
    pub async fn set_quarantined(
        &self,
        server: &ServerName,
        media_id: &str,
        by: Option<&UserId>,
    ) -> Result<()> {
        self.update_record(server, media_id, |record| {
            if by.is_some() && record.safe_from_quarantine {
                return Err(Error::InvalidParam(
                    "This media is protected from quarantine".into(),
                ));
            }
            record.quarantined_by = by.map(ToOwned::to_owned);
            Ok(())
        })
        .await
    }

    /// Protects media from quarantine, or lifts the protection.
    pub async fn set_protected(
        &self,
        server: &ServerName,
        media_id: &str,
        protected: bool,
    ) -> Result<()> {
        self.update_record(server, media_id, |record| {
            record.safe_from_quarantine = protected;
            Ok(())
        })
        .await
    }

    async fn update_record(
        &self,
        server: &ServerName,
        media_id: &str,
        change: impl FnOnce(&mut MediaRecord) -> Result<()>,
    ) -> Result<()> {
        let _guard = self.inner.write_lock.lock().await;
        let mut record = self
            .record(server, media_id)?
            .ok_or_else(|| Error::NotFound("Unknown media".into()))?;
        change(&mut record)?;
        let mut batch = WriteBatch::new();
        batch.put_json(SERVERMEDIA_RECORD, media_key(server, media_id), &record);
        self.store().commit(batch).await
    }
}
