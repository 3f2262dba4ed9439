//! Server-side key backup (`/room_keys`): backup versions with their algorithm and auth data,
//! and the encrypted room keys clients store in the current version. The server cannot read the
//! keys; it keeps the better of two copies of a session by the spec's rules and counts changes
//! in an etag so clients notice when another device added keys.

use std::collections::BTreeMap;

use ruma::{OwnedRoomId, RoomId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::Value as JsonValue;

use super::Users;
use crate::{
    error::{Error, Result},
    storage::{WriteBatch, compound_key, split_key},
};

/// `(user, version)` → [`BackupVersion`]. Versions are numbered from 1 and never reused.
const USERVERSION_BACKUP: &str = "userversion_backup";
/// `(user, version, room, session)` → the backed-up session (`KeyBackupData`).
const USERVERSIONROOMSESSION_BACKUPKEY: &str = "userversionroomsession_backupkey";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct BackupVersion {
    algorithm: String,
    auth_data: JsonValue,
    etag: u64,
    /// Deleted versions stay (without keys) so their numbers are not handed out again.
    deleted: bool,
}

/// A backup version as `GET /room_keys/version` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupInfo {
    pub version: String,
    pub algorithm: String,
    pub auth_data: JsonValue,
    pub etag: String,
    pub count: u64,
}

/// What an upload changed: the version's new etag and key count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupKeysState {
    pub etag: u64,
    pub count: u64,
}

/// The fields of a backed-up session the replacement rules compare.
#[derive(Debug, Deserialize)]
struct SessionRank {
    first_message_index: u64,
    forwarded_count: u64,
    is_verified: bool,
    #[allow(dead_code)] // Required to be present; the server cannot read it.
    session_data: serde_json::Map<String, JsonValue>,
}

impl SessionRank {
    fn parse(session: &JsonValue) -> Result<Self> {
        serde_json::from_value(session.clone())
            .map_err(|error| Error::BadJson(format!("Invalid backed-up session: {error}")))
    }

    /// The spec's rule: a verified copy beats an unverified one, then the lower first message
    /// index wins, then the lower forwarded count. Equal copies keep the stored one.
    fn replaces(&self, stored: &SessionRank) -> bool {
        if self.is_verified != stored.is_verified {
            return self.is_verified;
        }
        if self.first_message_index != stored.first_message_index {
            return self.first_message_index < stored.first_message_index;
        }
        self.forwarded_count < stored.forwarded_count
    }
}

/// Which part of a version's keys a read or delete covers.
#[derive(Debug, Clone, Copy)]
pub enum BackupScope<'a> {
    All,
    Room(&'a RoomId),
    Session(&'a RoomId, &'a str),
}

fn version_number(version: &str) -> Result<u64> {
    version
        .parse()
        .map_err(|_| Error::NotFound(format!("Unknown backup version {version}")))
}

/// Versions are keyed as zero-padded decimals: they sort in order and, unlike raw big-endian
/// bytes, cannot contain the key separator in the middle of a compound key.
fn version_part(version: u64) -> Vec<u8> {
    format!("{version:020}").into_bytes()
}

fn version_row(user_id: &UserId, version: u64) -> Vec<u8> {
    compound_key(&[user_id.as_bytes(), &version_part(version)])
}

fn scope_prefix(user_id: &UserId, version: u64, scope: BackupScope<'_>) -> Vec<u8> {
    let version = version_part(version);
    match scope {
        BackupScope::All => compound_key(&[user_id.as_bytes(), &version, b""]),
        BackupScope::Room(room_id) => {
            compound_key(&[user_id.as_bytes(), &version, room_id.as_bytes(), b""])
        }
        BackupScope::Session(room_id, session_id) => compound_key(&[
            user_id.as_bytes(),
            &version,
            room_id.as_bytes(),
            session_id.as_bytes(),
        ]),
    }
}

impl Users {
    /// All versions of a user, oldest first, deleted ones included.
    fn backup_versions(&self, user_id: &UserId) -> Result<Vec<(u64, BackupVersion)>> {
        let prefix = compound_key(&[user_id.as_bytes(), b""]);
        self.store()
            .scan_prefix(USERVERSION_BACKUP, &prefix, usize::MAX)?
            .into_iter()
            .map(|(key, value)| {
                let number = split_key(&key)
                    .get(1)
                    .and_then(|bytes| std::str::from_utf8(bytes).ok())
                    .and_then(|digits| digits.parse::<u64>().ok())
                    .ok_or_else(|| Error::Storage("bad backup version row".into()))?;
                let version = serde_json::from_slice(&value).map_err(Error::storage)?;
                Ok((number, version))
            })
            .collect()
    }

    fn live_backup_version(&self, user_id: &UserId, version: &str) -> Result<(u64, BackupVersion)> {
        let number = version_number(version)?;
        self.store()
            .get_json::<BackupVersion>(USERVERSION_BACKUP, &version_row(user_id, number))?
            .filter(|found| !found.deleted)
            .map(|found| (number, found))
            .ok_or_else(|| Error::NotFound(format!("Unknown backup version {version}")))
    }

    fn latest_backup_version(&self, user_id: &UserId) -> Result<Option<(u64, BackupVersion)>> {
        Ok(self
            .backup_versions(user_id)?
            .into_iter()
            .rev()
            .find(|(_, version)| !version.deleted))
    }

    /// Starts a new backup version, which becomes the current one.
    pub async fn create_backup_version(
        &self,
        user_id: &UserId,
        algorithm: String,
        auth_data: JsonValue,
    ) -> Result<String> {
        if !auth_data.is_object() {
            return Err(Error::BadJson("auth_data must be an object".into()));
        }
        let _guard = self.inner.write_lock.lock().await;
        let number = self
            .backup_versions(user_id)?
            .last()
            .map_or(1, |(number, _)| number + 1);
        let mut batch = WriteBatch::new();
        batch.put_json(
            USERVERSION_BACKUP,
            version_row(user_id, number),
            &BackupVersion {
                algorithm,
                auth_data,
                etag: 0,
                deleted: false,
            },
        );
        self.store().commit(batch).await?;
        Ok(number.to_string())
    }

    /// Replaces a version's auth data; the algorithm cannot change.
    pub async fn update_backup_version(
        &self,
        user_id: &UserId,
        version: &str,
        algorithm: &str,
        auth_data: JsonValue,
    ) -> Result<()> {
        if !auth_data.is_object() {
            return Err(Error::BadJson("auth_data must be an object".into()));
        }
        let _guard = self.inner.write_lock.lock().await;
        let (number, mut stored) = self.live_backup_version(user_id, version)?;
        if stored.algorithm != algorithm {
            return Err(Error::InvalidParam(
                "The algorithm of a backup version cannot change".into(),
            ));
        }
        stored.auth_data = auth_data;
        let mut batch = WriteBatch::new();
        batch.put_json(USERVERSION_BACKUP, version_row(user_id, number), &stored);
        self.store().commit(batch).await
    }

    /// A version (the current one when `version` is `None`), with its key count.
    pub fn backup_info(&self, user_id: &UserId, version: Option<&str>) -> Result<BackupInfo> {
        let (number, stored) = match version {
            Some(version) => self.live_backup_version(user_id, version)?,
            None => self
                .latest_backup_version(user_id)?
                .ok_or_else(|| Error::NotFound("No current backup version".into()))?,
        };
        Ok(BackupInfo {
            version: number.to_string(),
            algorithm: stored.algorithm,
            auth_data: stored.auth_data,
            etag: stored.etag.to_string(),
            count: self.backup_key_count(user_id, number)?,
        })
    }

    fn backup_key_count(&self, user_id: &UserId, number: u64) -> Result<u64> {
        let prefix = scope_prefix(user_id, number, BackupScope::All);
        Ok(self
            .store()
            .scan_prefix(USERVERSIONROOMSESSION_BACKUPKEY, &prefix, usize::MAX)?
            .len() as u64)
    }

    /// Deletes a version and its keys.
    pub async fn delete_backup_version(&self, user_id: &UserId, version: &str) -> Result<()> {
        let _guard = self.inner.write_lock.lock().await;
        let (number, mut stored) = self.live_backup_version(user_id, version)?;
        let mut batch = WriteBatch::new();
        self.delete_backup_keys_into(&mut batch, user_id, number, BackupScope::All)?;
        stored.deleted = true;
        stored.auth_data = JsonValue::Null;
        batch.put_json(USERVERSION_BACKUP, version_row(user_id, number), &stored);
        self.store().commit(batch).await
    }

    /// Stores sessions in the current version, each only where it beats the stored copy.
    /// Writing to an older version is refused with the current one named.
    pub async fn put_backup_keys(
        &self,
        user_id: &UserId,
        version: &str,
        sessions: Vec<(OwnedRoomId, String, JsonValue)>,
    ) -> Result<BackupKeysState> {
        let _guard = self.inner.write_lock.lock().await;
        let (number, stored) = self.live_backup_version(user_id, version)?;
        let current = self
            .latest_backup_version(user_id)?
            .map(|(number, _)| number);
        if current != Some(number) {
            return Err(Error::WrongRoomKeysVersion {
                current_version: current.map(|number| number.to_string()),
            });
        }
        let mut batch = WriteBatch::new();
        for (room_id, session_id, session) in sessions {
            let rank = SessionRank::parse(&session)?;
            let row = scope_prefix(user_id, number, BackupScope::Session(&room_id, &session_id));
            let better = match self
                .store()
                .get_json::<JsonValue>(USERVERSIONROOMSESSION_BACKUPKEY, &row)?
            {
                Some(old) => rank.replaces(&SessionRank::parse(&old)?),
                None => true,
            };
            if better {
                batch.put_json(USERVERSIONROOMSESSION_BACKUPKEY, row, &session);
            }
        }
        self.commit_key_changes(batch, user_id, number, stored)
            .await
    }

    /// The sessions of a version within `scope`, by room and session id.
    pub fn backup_keys(
        &self,
        user_id: &UserId,
        version: &str,
        scope: BackupScope<'_>,
    ) -> Result<BTreeMap<String, BTreeMap<String, JsonValue>>> {
        let (number, _) = self.live_backup_version(user_id, version)?;
        let prefix = scope_prefix(user_id, number, scope);
        let mut rooms: BTreeMap<String, BTreeMap<String, JsonValue>> = BTreeMap::new();
        for (key, value) in
            self.store()
                .scan_prefix(USERVERSIONROOMSESSION_BACKUPKEY, &prefix, usize::MAX)?
        {
            let parts = split_key(&key);
            let (Some(room), Some(session)) = (
                parts.get(2).and_then(|part| std::str::from_utf8(part).ok()),
                parts.get(3).and_then(|part| std::str::from_utf8(part).ok()),
            ) else {
                continue;
            };
            // A session prefix also matches longer session ids that start with it.
            if let BackupScope::Session(_, wanted) = scope
                && wanted != session
            {
                continue;
            }
            let session_data = serde_json::from_slice(&value).map_err(Error::storage)?;
            rooms
                .entry(room.to_owned())
                .or_default()
                .insert(session.to_owned(), session_data);
        }
        Ok(rooms)
    }

    /// Deletes the sessions of a version within `scope`.
    pub async fn delete_backup_keys(
        &self,
        user_id: &UserId,
        version: &str,
        scope: BackupScope<'_>,
    ) -> Result<BackupKeysState> {
        let _guard = self.inner.write_lock.lock().await;
        let (number, stored) = self.live_backup_version(user_id, version)?;
        let mut batch = WriteBatch::new();
        self.delete_backup_keys_into(&mut batch, user_id, number, scope)?;
        self.commit_key_changes(batch, user_id, number, stored)
            .await
    }

    /// Commits changed keys with the version's etag moved on (nothing changed, nothing moves);
    /// returns the new state.
    async fn commit_key_changes(
        &self,
        mut batch: WriteBatch,
        user_id: &UserId,
        number: u64,
        mut stored: BackupVersion,
    ) -> Result<BackupKeysState> {
        if !batch.is_empty() {
            stored.etag += 1;
            batch.put_json(USERVERSION_BACKUP, version_row(user_id, number), &stored);
            self.store().commit(batch).await?;
        }
        Ok(BackupKeysState {
            etag: stored.etag,
            count: self.backup_key_count(user_id, number)?,
        })
    }

    fn delete_backup_keys_into(
        &self,
        batch: &mut WriteBatch,
        user_id: &UserId,
        number: u64,
        scope: BackupScope<'_>,
    ) -> Result<()> {
        let prefix = scope_prefix(user_id, number, scope);
        for (key, _) in
            self.store()
                .scan_prefix(USERVERSIONROOMSESSION_BACKUPKEY, &prefix, usize::MAX)?
        {
            let exact = match scope {
                BackupScope::Session(..) => key == prefix,
                _ => true,
            };
            if exact {
                batch.delete(USERVERSIONROOMSESSION_BACKUPKEY, key);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rank(verified: bool, index: u64, forwarded: u64) -> SessionRank {
        SessionRank {
            first_message_index: index,
            forwarded_count: forwarded,
            is_verified: verified,
            session_data: serde_json::Map::new(),
        }
    }

    #[test]
    fn better_sessions_replace_worse_ones_by_the_spec_order() {
        // Verification first, even against a lower index.
        assert!(rank(true, 10, 5).replaces(&rank(false, 0, 0)));
        assert!(!rank(false, 0, 0).replaces(&rank(true, 10, 5)));
        // Then the lower first message index.
        assert!(rank(false, 1, 9).replaces(&rank(false, 2, 0)));
        assert!(!rank(false, 3, 0).replaces(&rank(false, 2, 9)));
        // Then the lower forwarded count; an equal copy keeps the stored one.
        assert!(rank(false, 2, 0).replaces(&rank(false, 2, 1)));
        assert!(!rank(false, 2, 1).replaces(&rank(false, 2, 1)));
    }

    #[test]
    fn malformed_sessions_are_refused() {
        let missing = serde_json::json!({ "first_message_index": 0, "forwarded_count": 0 });
        assert!(matches!(
            SessionRank::parse(&missing),
            Err(Error::BadJson(_))
        ));
        let wrong_type = serde_json::json!({ "first_message_index": "0", "forwarded_count": 0, "is_verified": false, "session_data": {} });
        assert!(SessionRank::parse(&wrong_type).is_err());
    }
}
