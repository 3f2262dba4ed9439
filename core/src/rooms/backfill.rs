//! History from other servers: events fetched with `backfill` placed before the room's
//! earliest local event, ordered in the timeline like every other event.

use ruma::{OwnedEventId, RoomId};

use super::{PduEvent, Rooms, build::rules_of, ingest::RemoteEvent};
use crate::{error::Result, storage::WriteBatch};

impl Rooms {
    /// The earliest event of the room's timeline on this server, with its position.
    pub fn earliest_timeline_event(&self, room_id: &RoomId) -> Result<Option<(u64, PduEvent)>> {
        let prefix = crate::storage::compound_key(&[room_id.as_bytes(), b""]);
        let Some(row) = self
            .store()
            .scan_prefix(super::persist::ROOMPOSITION_EVENTID, &prefix, 1)?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let (position, event_id) = super::timeline::decode_timeline_row(room_id, row)?;
        Ok(self.pdu(&event_id)?.map(|pdu| (position, pdu)))
    }

    /// The earliest timeline event when history before it is missing here (some of its
    /// `prev_events` are not in the timeline): where backfilling starts.
    pub fn backfill_point(&self, room_id: &RoomId) -> Result<Option<OwnedEventId>> {
        let Some((position, earliest)) = self.earliest_timeline_event(room_id)? else {
            return Ok(None);
        };
        if position <= 1 {
            return Ok(None);
        }
        for prev in &earliest.prev_events {
            if self.event_position(prev)?.is_none() {
                return Ok(Some(earliest.event_id));
            }
        }
        Ok(None)
    }

    /// Places events fetched with `backfill` before the room's earliest timeline event, newest
    /// first. Each must pass the authorization rules against its auth events (stored); events
    /// that do not are dropped. Returns how many were placed.
    pub async fn store_backfilled(
        &self,
        room_id: &RoomId,
        events: Vec<RemoteEvent>,
    ) -> Result<usize> {
        let _lock = self.lock(room_id).await;
        let info = self.existing_room(room_id)?;
        let rules = rules_of(&info)?;
        let Some((mut position, _)) = self.earliest_timeline_event(room_id)? else {
            return Ok(0);
        };
        let mut pdus = Vec::new();
        for event in events {
            let pdu = event.pdu()?;
            if pdu.room() == room_id && self.event_position(&pdu.event_id)?.is_none() {
                pdus.push((pdu, event.object));
            }
        }
        pdus.sort_by(|(a, _), (b, _)| {
            b.depth
                .cmp(&a.depth)
                .then_with(|| b.origin_server_ts.cmp(&a.origin_server_ts))
        });
        let mut batch = WriteBatch::new();
        let mut placed = 0;
        for (pdu, object) in pdus {
            if position <= 1 {
                break;
            }
            if let Err(error) = self.authorize_by_auth_events(&rules, &pdu) {
                tracing::info!(event_id = %pdu.event_id, %error, "dropping a backfilled event");
                continue;
            }
            if let Err(reason) =
                self.authorize_with_auth_events(&rules, &pdu, |id| self.pdu(id).ok().flatten())
            {
                tracing::info!(event_id = %pdu.event_id, %reason, "dropping a backfilled event");
                continue;
            }
            position -= 1;
            super::persist::put_timeline_rows(&mut batch, room_id, &pdu, &object, position)?;
            self.index_relation(&mut batch, room_id, &pdu, position)?;
            placed += 1;
        }
        self.store().commit(batch).await?;
        Ok(placed)
    }
}
