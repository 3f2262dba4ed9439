//! Reading the notify records push rules produced: `GET /notifications` (newest first across
//! the user's rooms) and the queue of notifications the push delivery worker has not handed to
//! gateways yet (filled only for users with a pusher, emptied as it goes).

use std::collections::HashMap;

use ruma::{OwnedEventId, OwnedRoomId, RoomId, UserId, push::Action};

use super::{
    Rooms,
    push::{NotifyRecord, USERROOMPOSITION_NOTIFY},
};
use crate::{
    error::{Error, Result},
    storage::{WriteBatch, compound_key},
};

/// Position (8 bytes, big-endian) followed by the user id → the room id: notifications not yet
/// handed to push gateways.
const POSITIONUSER_PENDINGPUSH: &str = "positionuser_pendingpush";

/// One event that notified one user.
#[derive(Debug, Clone)]
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

fn position_of(key: &[u8]) -> Result<u64> {
    key.len()
        .checked_sub(8)
        .and_then(|offset| <[u8; 8]>::try_from(&key[offset..]).ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| Error::Storage("bad notification row".into()))
}

impl Rooms {
    /// Queues a notification for push delivery when the user has a pusher.
    pub(crate) fn queue_push(
        &self,
        batch: &mut WriteBatch,
        user_id: &UserId,
        room_id: &RoomId,
        position: u64,
    ) {
        if crate::users::has_pushers(self.store(), user_id) {
            let mut key = position.to_be_bytes().to_vec();
            key.extend_from_slice(user_id.as_bytes());
            batch.put(POSITIONUSER_PENDINGPUSH, key, room_id.as_bytes().to_vec());
        }
    }

    fn notification_at(
        &self,
        room_id: &RoomId,
        position: u64,
        record: NotifyRecord,
    ) -> Result<Option<Notification>> {
        Ok(self
            .event_at_position(room_id, position)?
            .map(|event_id| Notification {
                room_id: room_id.to_owned(),
                event_id,
                actions: record.actions,
                ts: record.ts,
                highlight: record.highlight,
            }))
    }

    /// A user's notifications in their joined rooms, newest first, before position `before`
    /// (all when `None`). Each room is read newest-first and the rooms merged: the endpoint is
    /// rare, the send path stays at one record per notified member.
    pub fn notifications(
        &self,
        user_id: &UserId,
        before: Option<u64>,
        limit: usize,
        only_highlight: bool,
    ) -> Result<Vec<ListedNotification>> {
        let before = before.unwrap_or(u64::MAX);
        let mut candidates: Vec<(u64, OwnedRoomId, NotifyRecord)> = Vec::new();
        for room_id in self.joined_rooms(user_id)? {
            let start =
                compound_key(&[user_id.as_bytes(), room_id.as_bytes(), &0u64.to_be_bytes()]);
            let mut upper = compound_key(&[
                user_id.as_bytes(),
                room_id.as_bytes(),
                &before.to_be_bytes(),
            ]);
            let mut found = 0;
            // Paged: highlights may be sparse among a room's notifications.
            while found < limit {
                let page = self.store().range(
                    USERROOMPOSITION_NOTIFY,
                    std::ops::Bound::Included(start.as_slice()),
                    std::ops::Bound::Excluded(upper.as_slice()),
                    true,
                    limit.max(50),
                )?;
                let Some((last, _)) = page.last() else { break };
                upper = last.clone();
                for (key, value) in &page {
                    let record: NotifyRecord =
                        serde_json::from_slice(value).map_err(Error::storage)?;
                    if only_highlight && !record.highlight {
                        continue;
                    }
                    candidates.push((position_of(key)?, room_id.clone(), record));
                    found += 1;
                    if found == limit {
                        break;
                    }
                }
            }
        }
        candidates.sort_by_key(|candidate| std::cmp::Reverse(candidate.0));
        candidates.truncate(limit);
        let mut read_positions: HashMap<OwnedRoomId, u64> = HashMap::new();
        let mut listed = Vec::with_capacity(candidates.len());
        for (position, room_id, record) in candidates {
            let read_position = match read_positions.get(&room_id) {
                Some(read) => *read,
                None => {
                    let read = match self.own_read_receipt(&room_id, user_id)? {
                        Some(event_id) => self.event_position(&event_id)?.unwrap_or(0),
                        None => 0,
                    };
                    read_positions.insert(room_id.clone(), read);
                    read
                }
            };
            if let Some(notification) = self.notification_at(&room_id, position, record)? {
                listed.push(ListedNotification {
                    position,
                    read: position <= read_position,
                    notification,
                });
            }
        }
        Ok(listed)
    }

    /// The oldest notifications not yet handed to push gateways: position, user and the
    /// notification (`None` when it is gone, e.g. pruned).
    pub fn pending_pushes(
        &self,
        limit: usize,
    ) -> Result<Vec<(u64, ruma::OwnedUserId, Option<Notification>)>> {
        let mut pending = Vec::new();
        for (key, value) in self.store().range(
            POSITIONUSER_PENDINGPUSH,
            std::ops::Bound::Unbounded,
            std::ops::Bound::Unbounded,
            false,
            limit,
        )? {
            let (Some(position), Some(user_id), Some(room_id)) = (
                key.get(..8)
                    .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
                    .map(u64::from_be_bytes),
                key.get(8..)
                    .and_then(|user| std::str::from_utf8(user).ok())
                    .and_then(|user| UserId::parse(user).ok()),
                std::str::from_utf8(&value)
                    .ok()
                    .and_then(|room| RoomId::parse(room).ok()),
            ) else {
                continue;
            };
            let row = compound_key(&[
                user_id.as_bytes(),
                room_id.as_bytes(),
                &position.to_be_bytes(),
            ]);
            let notification = match self
                .store()
                .get_json::<NotifyRecord>(USERROOMPOSITION_NOTIFY, &row)?
            {
                Some(record) => self.notification_at(&room_id, position, record)?,
                None => None,
            };
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
