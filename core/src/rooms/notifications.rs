//! The notifications push rules produced, kept per user for `GET /notifications` and queued per
//! stream position for the push delivery worker (which removes its queue entries once sent).

use ruma::{OwnedEventId, OwnedRoomId, UserId, push::Action};
use serde::{Deserialize, Serialize};

use super::Rooms;
use crate::{
    Error, Result,
    storage::{WriteBatch, compound_key},
};

/// `(user, position)` → [`Notification`]: what `GET /notifications` lists.
const USERPOSITION_NOTIFICATION: &str = "userposition_notification";
/// position (8 bytes, big-endian) followed by the user id → nothing: notifications not yet
/// handed to push gateways.
const POSITIONUSER_PENDINGPUSH: &str = "positionuser_pendingpush";

/// One event that notified one user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Notification {
    pub room_id: OwnedRoomId,
    pub event_id: OwnedEventId,
    pub actions: Vec<Action>,
    pub ts: u64,
    pub highlight: bool,
}

/// A notification as `GET /notifications` lists it.
#[derive(Debug, Clone)]
pub struct ListedNotification {
    pub position: u64,
    pub notification: Notification,
    /// Whether the user's read receipt in the room is at or after the event.
    pub read: bool,
}

impl Rooms {
    pub(crate) fn record_notification(
        &self,
        batch: &mut WriteBatch,
        user_id: &UserId,
        position: u64,
        notification: Notification,
    ) {
        batch.put_json(
            USERPOSITION_NOTIFICATION,
            compound_key(&[user_id.as_bytes(), &position.to_be_bytes()]),
            &notification,
        );
        let mut pending = position.to_be_bytes().to_vec();
        pending.extend_from_slice(user_id.as_bytes());
        batch.put(POSITIONUSER_PENDINGPUSH, pending, Vec::new());
    }

    /// A user's notifications, newest first, before position `before` (all when `None`).
    pub fn notifications(
        &self,
        user_id: &UserId,
        before: Option<u64>,
        limit: usize,
        only_highlight: bool,
    ) -> Result<Vec<ListedNotification>> {
        let start = compound_key(&[user_id.as_bytes(), &0u64.to_be_bytes()]);
        let end = compound_key(&[
            user_id.as_bytes(),
            &before.unwrap_or(u64::MAX).to_be_bytes(),
        ]);
        let mut listed = Vec::new();
        let mut read_positions = std::collections::HashMap::new();
        // Scanned in pages: highlights may be sparse among the user's notifications.
        let mut upper = end;
        while listed.len() < limit {
            let page = self.store().range(
                USERPOSITION_NOTIFICATION,
                std::ops::Bound::Included(start.as_slice()),
                std::ops::Bound::Excluded(upper.as_slice()),
                true,
                limit.max(50),
            )?;
            let Some((last_key, _)) = page.last() else {
                break;
            };
            upper = last_key.clone();
            for (key, value) in &page {
                let position = key
                    .len()
                    .checked_sub(8)
                    .and_then(|offset| <[u8; 8]>::try_from(&key[offset..]).ok())
                    .map(u64::from_be_bytes)
                    .ok_or_else(|| Error::Storage("bad notification row".into()))?;
                let notification: Notification =
                    serde_json::from_slice(value).map_err(Error::storage)?;
                if only_highlight && !notification.highlight {
                    continue;
                }
                let read_position = match read_positions.get(&notification.room_id) {
                    Some(read) => *read,
                    None => {
                        let read = match self.own_read_receipt(&notification.room_id, user_id)? {
                            Some(event_id) => self.event_position(&event_id)?.unwrap_or(0),
                            None => 0,
                        };
                        read_positions.insert(notification.room_id.clone(), read);
                        read
                    }
                };
                listed.push(ListedNotification {
                    position,
                    read: position <= read_position,
                    notification,
                });
                if listed.len() == limit {
                    break;
                }
            }
        }
        Ok(listed)
    }

    /// The oldest notifications not yet handed to push gateways: position, user and the
    /// notification (`None` when it is gone, e.g. its user was deleted).
    pub fn pending_pushes(
        &self,
        limit: usize,
    ) -> Result<Vec<(u64, ruma::OwnedUserId, Option<Notification>)>> {
        let mut pending = Vec::new();
        for (key, _) in self.store().range(
            POSITIONUSER_PENDINGPUSH,
            std::ops::Bound::Unbounded,
            std::ops::Bound::Unbounded,
            false,
            limit,
        )? {
            let (Some(position), Some(user_id)) = (
                key.get(..8)
                    .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
                    .map(u64::from_be_bytes),
                key.get(8..)
                    .and_then(|user| std::str::from_utf8(user).ok())
                    .and_then(|user| UserId::parse(user).ok()),
            ) else {
                continue;
            };
            let row = compound_key(&[user_id.as_bytes(), &position.to_be_bytes()]);
            let notification = self
                .store()
                .get_json::<Notification>(USERPOSITION_NOTIFICATION, &row)?;
            pending.push((position, user_id, notification));
        }
        Ok(pending)
    }

    /// Forgets a pending push once it was handed over.
    pub fn clear_pending_push(&self, batch: &mut WriteBatch, position: u64, user_id: &UserId) {
        let mut key = position.to_be_bytes().to_vec();
        key.extend_from_slice(user_id.as_bytes());
        batch.delete(POSITIONUSER_PENDINGPUSH, key);
    }
}
