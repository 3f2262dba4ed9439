//! Purging a room, or its history before a point. A room purge: everything this server stores of it goes, its events first of all (Synapse's
//! room deletion with `purge`). The caller makes the local members leave before, so that the
//! other servers hear of it; the stream items that named the room stay and read as nothing.

use std::ops::Bound;

use ruma::RoomId;

use super::{
    Rooms,
    persist::{ROOMPOSITION_EVENTID, ROOMTS_EVENTID, timeline_key},
    push::USERROOMPOSITION_NOTIFY,
};
use crate::{
    error::{Error, Result},
    storage::{WriteBatch, compound_key, prefix_upper_bound, split_key},
};

/// Tables keyed by room first.
const ROOM_TABLES: &[&str] = &[
    "roomposition_eventid",
    "roomposition_visibility",
    "roomtypestatekey_eventid",
    "roomtsposition_eventid",
    "roomuserposition_membership",
    "roomiduserid_invitestate",
    "roomidalias_alias",
    "roomtypethreaduser_receipt",
    "roomthread_activity",
    "roomactivity_threadroot",
];

/// Tables keyed by the room id alone.
const ROOM_ID_TABLES: &[&str] = &["roomid_info", "roomid_remoteversion", "published_roomid"];

/// Tables keyed by event id.
const EVENT_TABLES: &[&str] = &[
    "eventid_pdu",
    "eventid_position",
    "eventid_rejected",
    "eventid_relayedfrom",
    "eventid_replacesstate",
    "eventid_snapshots",
    "eventid_transaction",
    "eventid_handshake",
];

/// Tables keyed by user, then room.
const USER_ROOM_TABLES: &[&str] = &[
    "useridroomid_membership",
    "userroomposition_notify",
    "userroomthread_subscription",
];

/// What a purge removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RoomPurge {
    pub events: usize,
    pub entries: usize,
}

impl Rooms {
    /// Deletes everything stored of a room (its block, if any, stays). Local aliases of it go
    /// too.
    pub async fn purge_room(&self, room_id: &RoomId) -> Result<RoomPurge> {
        if self.room_info(room_id)?.is_none() {
            return Err(Error::NotFound("Room not found".into()));
        }
        let _lock = self.lock(room_id).await;
        let store = self.store();
        let mut batch = WriteBatch::new();
        let mut report = RoomPurge::default();
        let prefix = compound_key(&[room_id.as_bytes(), b""]);
        for table in ROOM_TABLES {
            for (key, _) in store.scan_prefix(table, &prefix, usize::MAX)? {
                batch.delete(table, key);
                report.entries += 1;
            }
        }
        for table in ROOM_ID_TABLES {
            batch.delete(table, room_id.as_bytes().to_vec());
        }
        // Aliases pointing at the room.
        for (key, value) in store.scan_prefix("alias_roomid", b"", usize::MAX)? {
            if value == room_id.as_bytes() {
                batch.delete("alias_roomid", key);
                report.entries += 1;
            }
        }
        for table in USER_ROOM_TABLES {
            for (key, _) in store.scan_prefix(table, b"", usize::MAX)? {
                if split_key(&key).get(1) == Some(&room_id.as_bytes()) {
                    batch.delete(table, key);
                    report.entries += 1;
                }
            }
        }
        // Every event of the room, outliers too: found by reading them.
        for (key, value) in store.scan_prefix("eventid_pdu", b"", usize::MAX)? {
            let in_room = serde_json::from_slice::<serde_json::Value>(&value)
                .ok()
                .and_then(|event| {
                    event
                        .get("room_id")
                        .and_then(|id| id.as_str().map(str::to_owned))
                })
                .is_some_and(|id| id == room_id.as_str());
            if !in_room {
                continue;
            }
            if let Some(position) = store
                .get("eventid_position", &key)?
                .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_slice()).ok())
            {
                // Keyed by position, then user, with no separator.
                let pending = position.to_vec();
                for (push_key, _) in
                    store.scan_prefix("positionuser_pendingpush", &pending, usize::MAX)?
                {
                    batch.delete("positionuser_pendingpush", push_key);
                }
            }
            let relations = compound_key(&[&key, b""]);
            for (relation_key, _) in
                store.scan_prefix("parentposition_relation", &relations, usize::MAX)?
            {
                batch.delete("parentposition_relation", relation_key);
            }
            for table in EVENT_TABLES {
                batch.delete(table, key.clone());
            }
            report.events += 1;
        }
        store.commit(batch).await?;
        tracing::info!(%room_id, events = report.events, entries = report.entries, "room purged");
        Ok(report)
    }
}

impl Rooms {
    /// Deletes the room's history before `before` (a timeline position, exclusive), as
    /// Synapse's `purge_history` does: messages go, state events stay (the room's state is
    /// built from them), and so do the events of local users unless `delete_local_events`. The
    /// newest event and the forward extremities are never deleted, so the room goes on. Returns
    /// how many events went.
    pub async fn purge_history(
        &self,
        room_id: &RoomId,
        before: u64,
        delete_local_events: bool,
    ) -> Result<usize> {
        let Some(info) = self.room_info(room_id)? else {
            return Err(Error::NotFound("Room not found".into()));
        };
        let _lock = self.lock(room_id).await;
        let store = self.store();
        let prefix = compound_key(&[room_id.as_bytes(), b""]);
        let end = timeline_key(room_id, before);
        let rows = store.range(
            ROOMPOSITION_EVENTID,
            Bound::Included(&prefix),
            Bound::Excluded(&end),
            false,
            usize::MAX,
        )?;
        let newest = store
            .range(
                ROOMPOSITION_EVENTID,
                Bound::Included(&prefix),
                prefix_upper_bound(&prefix)
                    .as_deref()
                    .map_or(Bound::Unbounded, Bound::Excluded),
                true,
                1,
            )?
            .into_iter()
            .next()
            .map(|(key, _)| key);
        let mut batch = WriteBatch::new();
        let mut purged = 0;
        let mut purged_positions = std::collections::HashSet::new();
        for (key, value) in rows {
            if Some(&key) == newest.as_ref() {
                continue;
            }
            let Some(event_id) = String::from_utf8(value)
                .ok()
                .and_then(|id| ruma::EventId::parse(id).ok())
            else {
                continue;
            };
            let Some(pdu) = self.pdu(&event_id)? else {
                continue;
            };
            if pdu.is_state()
                || info.forward_extremities.contains(&event_id)
                || (!delete_local_events && pdu.sender.server_name() == self.server_name())
            {
                continue;
            }
            self.unindex_relation(&mut batch, &pdu)?;
            batch.delete(ROOMPOSITION_EVENTID, key);
            if let Some(position) = self.event_position(&event_id)? {
                purged_positions.insert(position);
                let ts = u64::from(pdu.origin_server_ts.0);
                batch.delete(
                    ROOMTS_EVENTID,
                    compound_key(&[
                        room_id.as_bytes(),
                        &ts.to_be_bytes(),
                        &position.to_be_bytes(),
                    ]),
                );
            }
            let relations = compound_key(&[event_id.as_bytes(), b""]);
            for (relation_key, _) in
                store.scan_prefix("parentposition_relation", &relations, usize::MAX)?
            {
                batch.delete("parentposition_relation", relation_key);
            }
            for table in EVENT_TABLES {
                batch.delete(table, event_id.as_bytes().to_vec());
            }
            purged += 1;
        }
        // Notifications of purged events go too: unread counts are of events one can read.
        if !purged_positions.is_empty() {
            for (key, _) in store.scan_prefix(USERROOMPOSITION_NOTIFY, b"", usize::MAX)? {
                let parts = split_key(&key);
                let position = key
                    .len()
                    .checked_sub(8)
                    .and_then(|offset| <[u8; 8]>::try_from(&key[offset..]).ok())
                    .map(u64::from_be_bytes);
                if parts.get(1) == Some(&room_id.as_bytes())
                    && position.is_some_and(|position| purged_positions.contains(&position))
                {
                    batch.delete(USERROOMPOSITION_NOTIFY, key);
                }
            }
        }
        store.commit(batch).await?;
        tracing::info!(%room_id, events = purged, "history purged");
        Ok(purged)
    }
}
