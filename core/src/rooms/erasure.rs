//! Erased senders (Synapse's GDPR erasure, `POST /_synapse/admin/v1/deactivate` with `erase`):
//! what an erased user sent stays whole for those who were in the room when it was sent and is
//! served redacted to everyone else, as Synapse's `filter_events_for_client` prunes events of
//! erased senders for users who were not joined at the event.

use std::collections::HashSet;

use ruma::{CanonicalJsonObject, OwnedUserId, RoomId, UserId, canonical_json::redact};

use super::{Membership, PduEvent, Rooms, build::rules_of, state::EVENTID_PDU};
use crate::{
    error::{Error, Result},
    storage::{Store, WriteBatch},
};

/// User id → when the user was erased (milliseconds since the epoch).
const USERID_ERASEDTS: &str = "userid_erasedts";

/// The erased users, read once at startup (a short list: the lookup on every served event is
/// a set probe).
#[derive(Default)]
pub(super) struct ErasedUsers {
    users: std::sync::RwLock<HashSet<OwnedUserId>>,
}

impl ErasedUsers {
    pub(super) fn load(store: &Store) -> Result<Self> {
        let users = store
            .scan_prefix(USERID_ERASEDTS, b"", usize::MAX)?
            .into_iter()
            .filter_map(|(key, _)| String::from_utf8(key).ok())
            .filter_map(|user| UserId::parse(user).ok())
            .collect();
        Ok(Self {
            users: std::sync::RwLock::new(users),
        })
    }

    fn contains(&self, user_id: &UserId) -> bool {
        let users = self
            .users
            .read()
            .unwrap_or_else(|poison| poison.into_inner());
        !users.is_empty() && users.contains(user_id)
    }
}

impl Rooms {
    /// Marks a user as erased: from now on what they sent is served redacted to everyone who
    /// was not in the room when it was sent.
    pub async fn erase_sender(&self, user_id: &UserId) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.put(
            USERID_ERASEDTS,
            user_id.as_bytes().to_vec(),
            crate::clock::now_ms().to_be_bytes().to_vec(),
        );
        self.store().commit(batch).await?;
        self.inner
            .erased
            .users
            .write()
            .unwrap_or_else(|poison| poison.into_inner())
            .insert(user_id.to_owned());
        Ok(())
    }

    /// Whether the user was erased.
    pub fn is_erased(&self, user_id: &UserId) -> bool {
        self.inner.erased.contains(user_id)
    }

    /// The redacted form of `event` when `viewer` may only see that, else `None`.
    pub fn seen_by(
        &self,
        room_id: &RoomId,
        viewer: &UserId,
        position: u64,
        event: &PduEvent,
    ) -> Result<Option<PduEvent>> {
        if event.sender == viewer
            || !self.is_erased(&event.sender)
            || self.membership_at(room_id, viewer, position)? == Some(Membership::Join)
        {
            return Ok(None);
        }
        self.pruned(room_id, event).map(Some)
    }

    /// The event as the room version's redaction algorithm leaves it.
    fn pruned(&self, room_id: &RoomId, event: &PduEvent) -> Result<PduEvent> {
        let info = self
            .room_info(room_id)?
            .ok_or_else(|| Error::NotFound("Unknown room".into()))?;
        let rules = rules_of(&info)?;
        let Some(bytes) = self.store().get(EVENTID_PDU, event.event_id.as_bytes())? else {
            return Ok(event.clone());
        };
        let object: CanonicalJsonObject = serde_json::from_slice(&bytes).map_err(Error::storage)?;
        let redacted = redact(object, &rules.redaction, None)
            .map_err(|error| Error::Internal(format!("redaction failed: {error}")))?;
        PduEvent::from_canonical(event.event_id.clone(), &redacted)
    }
}
