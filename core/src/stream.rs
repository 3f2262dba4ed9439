//! Stream positions and the notifier. Every persisted stream item (room event, account data
//! change) gets the next position and an entry in `position_item`; readers may only read up to
//! the *watermark*: the highest position below which every position has been committed, so a
//! reader never skips an item whose commit was merely slower than a later one.

use crate::mutex::lock;
use std::{collections::BTreeSet, sync::Mutex};

use tokio::sync::watch;

use serde::{Deserialize, Serialize};

use crate::{
    error::{Error, Result},
    storage::{Store, WriteBatch},
};

/// Position → what happened there. Its last key is the last position ever assigned.
pub(crate) const POSITION_ITEM: &str = "position_item";

/// What a stream position stands for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StreamItem {
    /// An event was persisted in this room.
    Event { room_id: ruma::OwnedRoomId },
    /// A user's account data changed (global when `room_id` is `None`).
    AccountData {
        user_id: ruma::OwnedUserId,
        room_id: Option<ruma::OwnedRoomId>,
        event_type: String,
    },
    /// A local user's membership changed in a room this server does not follow (an invite
    /// from another server, its rejection).
    Membership {
        room_id: ruma::OwnedRoomId,
        user_id: ruma::OwnedUserId,
    },
    /// A user's devices or their encryption keys changed.
    DeviceKeys {
        user_id: ruma::OwnedUserId,
        /// The local devices that changed, and whether each was deleted (empty for users of
        /// other servers, whose servers told us).
        #[serde(default)]
        devices: Vec<(ruma::OwnedDeviceId, bool)>,
    },
    /// A user's cross-signing keys (or the signatures on their master key) changed.
    SigningKeys { user_id: ruma::OwnedUserId },
    /// To-device messages were queued for these devices, and (`remote`) handed to the
    /// federation sender for devices of other servers.
    ToDevice {
        recipients: Vec<(ruma::OwnedUserId, ruma::OwnedDeviceId)>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        remote: Option<Box<RemoteToDevice>>,
    },
    /// A read receipt was set.
    Receipt { receipt: Box<Receipt> },
    /// A local user's presence changed (other servers sharing a room with them hear of it).
    Presence { update: Box<PresenceUpdate> },
}

/// To-device messages of one request for users of other servers: written in the stream with
/// the request's transaction, so that their delivery survives a crash right after the answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RemoteToDevice {
    pub sender: ruma::OwnedUserId,
    #[serde(rename = "type")]
    pub kind: String,
    /// Unique per sending device and transaction (the receiving server deduplicates by it).
    pub message_id: String,
    /// User → device id (or `*`) → content.
    pub messages: std::collections::BTreeMap<
        ruma::OwnedUserId,
        std::collections::BTreeMap<String, serde_json::Value>,
    >,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
pub enum ReceiptType {
    #[serde(rename = "m.read")]
    Read,
    #[serde(rename = "m.read.private")]
    ReadPrivate,
}

impl ReceiptType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "m.read",
            Self::ReadPrivate => "m.read.private",
        }
    }
}

/// One user's receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub room_id: ruma::OwnedRoomId,
    pub user_id: ruma::OwnedUserId,
    pub receipt_type: ReceiptType,
    /// `None` for unthreaded receipts, `main` or a thread root id otherwise.
    pub thread_id: Option<String>,
    pub event_id: ruma::OwnedEventId,
    pub ts: u64,
}

/// A user's presence as it changed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PresenceUpdate {
    pub user_id: ruma::OwnedUserId,
    /// `online`, `unavailable` or `offline`.
    pub presence: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_msg: Option<String>,
    /// When the user was last active (ms since the epoch; 0 if never).
    pub last_active_ts: u64,
}

/// A position in the event stream.
pub type StreamPosition = u64;

/// Where the stream of a new store starts. Positions below it are free for events backfilled
/// from other servers: each room's history before its first local event counts down from there,
/// ordered in the room's timeline like every other event (stores created before this start at 0
/// and can backfill only as far as their room's first position allows).
pub const STREAM_START: StreamPosition = 1 << 40;

pub struct Notifier {
    state: Mutex<PositionState>,
    watermark: watch::Sender<StreamPosition>,
}

struct PositionState {
    last_assigned: StreamPosition,
    in_flight: BTreeSet<StreamPosition>,
}

/// A position handed out and not yet finished; finishing (or dropping, on failure) moves the
/// watermark.
pub struct PendingPosition<'a> {
    notifier: &'a Notifier,
    pub position: StreamPosition,
}

/// Positions whose writes were committed lazily and wait for one durable commit that covers
/// them all (the PDUs of one inbound transaction): nobody reads, and hands out, an event a crash
/// could still take back. [`Deferred::release`] flushes and makes them readable (before a slow
/// step, or at the end); dropping it (the work failed or its client went away) makes them
/// readable too, as the next flush covers them.
pub struct Deferred<'a> {
    notifier: &'a Notifier,
    positions: Mutex<Vec<StreamPosition>>,
}

impl Deferred<'_> {
    /// Makes the lazy writes so far durable and their positions readable.
    pub async fn release(&self, store: &Store) -> Result<()> {
        if lock(&self.positions).is_empty() {
            return Ok(());
        }
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.flush())
            .await
            .map_err(|error| Error::Internal(format!("flush task: {error}")))??;
        self.finish_all();
        Ok(())
    }

    fn finish_all(&self) {
        let positions: Vec<StreamPosition> = lock(&self.positions).drain(..).collect();
        for position in positions {
            self.notifier.finish(position);
        }
    }
}

impl Drop for Deferred<'_> {
    fn drop(&mut self) {
        self.finish_all();
    }
}

impl PendingPosition<'_> {
    /// Finishes the position after a lazy (not yet durable) commit: it stays unreadable until
    /// `deferred` is released or dropped, after the durable commit that covers it.
    pub(crate) fn finish_with(self, deferred: &Deferred<'_>) {
        lock(&deferred.positions).push(self.position);
        std::mem::forget(self);
    }

    /// Adds the position's `position_item` entry to the batch that commits the item.
    pub fn record(&self, batch: &mut WriteBatch, item: &StreamItem) {
        batch.put_json(POSITION_ITEM, self.position.to_be_bytes().to_vec(), item);
    }
}

/// Items with positions in `(after, up_to]`, in order.
pub fn items_between(
    store: &Store,
    after: StreamPosition,
    up_to: StreamPosition,
) -> Result<Vec<(StreamPosition, StreamItem)>> {
    items_after(store, after, up_to, usize::MAX)
}

/// The first `limit` items with positions in `(after, up_to]`, in order.
pub fn items_after(
    store: &Store,
    after: StreamPosition,
    up_to: StreamPosition,
    limit: usize,
) -> Result<Vec<(StreamPosition, StreamItem)>> {
    if up_to <= after {
        return Ok(Vec::new());
    }
    let start = (after + 1).to_be_bytes();
    let end = up_to.to_be_bytes();
    store
        .range(
            POSITION_ITEM,
            std::ops::Bound::Included(&start[..]),
            std::ops::Bound::Included(&end[..]),
            false,
            limit,
        )?
        .into_iter()
        .map(|(key, value)| {
            let position = key
                .as_slice()
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| Error::Storage("bad stream key".into()))?;
            Ok((
                position,
                serde_json::from_slice(&value).map_err(Error::storage)?,
            ))
        })
        .collect()
}

impl Drop for PendingPosition<'_> {
    fn drop(&mut self) {
        self.notifier.finish(self.position);
    }
}

impl Notifier {
    pub fn load(store: &Store) -> Result<Self> {
        let last_row = store.range(
            POSITION_ITEM,
            std::ops::Bound::Unbounded,
            std::ops::Bound::Unbounded,
            true,
            1,
        )?;
        let last = match last_row.first() {
            Some((key, _)) => u64::from_be_bytes(
                key.as_slice()
                    .try_into()
                    .map_err(|_| Error::Storage("bad stream position".into()))?,
            ),
            None => STREAM_START,
        };
        let (watermark, _) = watch::channel(last);
        Ok(Self {
            state: Mutex::new(PositionState {
                last_assigned: last,
                in_flight: BTreeSet::new(),
            }),
            watermark,
        })
    }

    pub fn next(&self) -> PendingPosition<'_> {
        let mut state = lock(&self.state);
        state.last_assigned += 1;
        let position = state.last_assigned;
        state.in_flight.insert(position);
        PendingPosition {
            notifier: self,
            position,
        }
    }

    fn finish(&self, position: StreamPosition) {
        let mut state = lock(&self.state);
        state.in_flight.remove(&position);
        let watermark = match state.in_flight.first() {
            Some(lowest) => lowest - 1,
            None => state.last_assigned,
        };
        self.watermark.send_if_modified(|current| {
            if watermark > *current {
                *current = watermark;
                true
            } else {
                false
            }
        });
    }

    /// Everything at or below this position is readable.
    pub fn current(&self) -> StreamPosition {
        *self.watermark.borrow()
    }

    /// A receiver that wakes whenever the watermark moves.
    pub fn subscribe(&self) -> watch::Receiver<StreamPosition> {
        self.watermark.subscribe()
    }

    /// Positions of lazy commits made visible together later (see [`Deferred`]).
    pub fn defer(&self) -> Deferred<'_> {
        Deferred {
            notifier: self,
            positions: Mutex::default(),
        }
    }

    /// Wakes waiters without a new event (typing, receipts, account data changes that live
    /// outside the event stream can use this to end long-polls).
    pub fn poke(&self) {
        self.watermark.send_modify(|_| {});
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermark_waits_for_slower_earlier_commits() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(crate::storage::BackendKind::Redb, dir.path()).expect("store");
        let notifier = Notifier::load(&store).expect("notifier");
        let first = notifier.next();
        let second = notifier.next();
        assert_eq!(
            (first.position, second.position),
            (STREAM_START + 1, STREAM_START + 2)
        );
        drop(second);
        assert_eq!(
            notifier.current(),
            STREAM_START,
            "the first position is still being written"
        );
        drop(first);
        assert_eq!(notifier.current(), STREAM_START + 2);
    }

    #[tokio::test]
    async fn lazily_written_positions_stay_unreadable_until_released() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(crate::storage::BackendKind::Redb, dir.path()).expect("store");
        let notifier = Notifier::load(&store).expect("notifier");
        let deferred = notifier.defer();
        notifier.next().finish_with(&deferred);
        // Durable writes after it wait too: the stream has no holes.
        drop(notifier.next());
        assert_eq!(notifier.current(), STREAM_START, "nothing readable yet");
        deferred.release(&store).await.expect("release");
        assert_eq!(
            notifier.current(),
            STREAM_START + 2,
            "all readable after it"
        );

        // Work abandoned half-way (a client hanging up) still releases its positions.
        let abandoned = notifier.defer();
        notifier.next().finish_with(&abandoned);
        assert_eq!(notifier.current(), STREAM_START + 2);
        drop(abandoned);
        assert_eq!(notifier.current(), STREAM_START + 3);
    }
}
