//! Persisting an event: one atomic, durable batch with the event, its indexes, the new state and
//! the stream position; then the notifier moves.

use ruma::{
    CanonicalJsonObject, OwnedEventId, RoomId, UserId, canonical_json::redact_in_place,
    events::TimelineEventType, room_version_rules::RoomVersionRules,
};

use super::{
    Membership, PduEvent, RoomInfo, RoomLock, Rooms,
    snapshots::PendingSnapshots,
    state::{
        EVENTID_PDU, EVENTID_POSITION, EVENTID_REPLACESSTATE, MembershipRecord, ROOMID_INFO,
        ROOMSTATE_EVENTID, USERROOM_MEMBERSHIP, state_key,
    },
};
use crate::{
    error::{Error, Result},
    storage::{WriteBatch, compound_key},
    stream::{Deferred, StreamItem},
};

pub(crate) const ROOMPOSITION_EVENTID: &str = "roomposition_eventid";
pub(crate) const ROOMTS_EVENTID: &str = "roomtsposition_eventid";

pub(crate) fn timeline_key(room_id: &RoomId, position: u64) -> Vec<u8> {
    compound_key(&[room_id.as_bytes(), &position.to_be_bytes()])
}

/// The rows that place an event in its room's timeline at `position`: the event, its position,
/// and the position and timestamp indexes.
pub(crate) fn put_timeline_rows(
    batch: &mut WriteBatch,
    room_id: &RoomId,
    pdu: &PduEvent,
    object: &CanonicalJsonObject,
    position: u64,
) -> Result<()> {
    let event_id = pdu.event_id.as_bytes().to_vec();
    batch.put(
        EVENTID_PDU,
        event_id.clone(),
        serde_json::to_vec(object).map_err(|error| Error::Internal(error.to_string()))?,
    );
    batch.put(
        EVENTID_POSITION,
        event_id.clone(),
        position.to_be_bytes().to_vec(),
    );
    batch.put(
        ROOMPOSITION_EVENTID,
        timeline_key(room_id, position),
        event_id.clone(),
    );
    let ts = u64::from(pdu.origin_server_ts.0);
    let ts_key = compound_key(&[
        room_id.as_bytes(),
        &ts.to_be_bytes(),
        &position.to_be_bytes(),
    ]);
    batch.put(ROOMTS_EVENTID, ts_key, event_id);
    Ok(())
}

/// How persisting an event moves the room's state: the snapshots before and after it, the
/// room's new current state and forward extremities.
pub(crate) struct Placement {
    pub before: u64,
    pub after: u64,
    /// The room's current state after this event.
    pub current: u64,
    /// Entries of the current state that change (a local state event changes its own entry; a
    /// remote event on a fork may change several after state resolution).
    pub current_changes: Vec<((String, String), OwnedEventId)>,
    /// Entries state resolution took out of the current state (a fork's join that the other
    /// fork's rules refuse), with the event that held each.
    pub current_removals: Vec<((String, String), OwnedEventId)>,
    pub extremities: Vec<OwnedEventId>,
    /// Snapshots written into the batch, readable before it commits.
    pub pending: PendingSnapshots,
}

/// When a write must be on stable storage.
#[derive(Clone, Copy)]
pub(crate) enum Durability<'a> {
    /// Before the call returns.
    Now,
    /// With the durable commit that releases `Deferred` (which the caller makes before
    /// answering anyone); readable from then on.
    Later(&'a Deferred<'a>),
}

impl Rooms {
    pub(crate) async fn commit_with(
        &self,
        batch: WriteBatch,
        durability: Durability<'_>,
    ) -> Result<()> {
        match durability {
            Durability::Now => self.store().commit(batch).await,
            Durability::Later(_) => self.store().commit_lazy(batch).await,
        }
    }
}

impl Rooms {
    /// Writes `pdu` and everything derived from it; returns its stream position.
    pub(crate) async fn persist(
        &self,
        lock: &RoomLock,
        info: RoomInfo,
        rules: &RoomVersionRules,
        pdu: &PduEvent,
        object: CanonicalJsonObject,
    ) -> Result<u64> {
        self.persist_with(lock, info, rules, pdu, object, WriteBatch::new())
            .await
    }

    /// The snapshot of the room's current state, written first for rooms that predate snapshots
    /// (and as an empty one for a room being created).
    pub(crate) fn current_snapshot(
        &self,
        room_id: &RoomId,
        info: &RoomInfo,
        batch: &mut WriteBatch,
        pending: &mut PendingSnapshots,
    ) -> Result<u64> {
        if let Some(id) = info.state_snapshot {
            return Ok(id);
        }
        let map = self
            .current_state(room_id)?
            .into_iter()
            .filter_map(|event| {
                let pair = event.state_key_pair()?;
                Some((pair, event.event_id))
            })
            .collect();
        self.write_full_snapshot(batch, pending, &map)
    }

    /// Persists a local event, which extends the current state linearly.
    pub(crate) async fn persist_with(
        &self,
        lock: &RoomLock,
        info: RoomInfo,
        rules: &RoomVersionRules,
        pdu: &PduEvent,
        object: CanonicalJsonObject,
        mut batch: WriteBatch,
    ) -> Result<u64> {
        let mut pending = PendingSnapshots::default();
        let before = self.current_snapshot(lock.room_id(), &info, &mut batch, &mut pending)?;
        let (after, current_changes) = match pdu.state_key_pair() {
            Some(pair) => {
                let after = self.write_snapshot(
                    &mut batch,
                    &mut pending,
                    Some(before),
                    vec![(pair.0.clone(), pair.1.clone(), pdu.event_id.clone())],
                )?;
                (after, vec![(pair, pdu.event_id.clone())])
            }
            None => (before, Vec::new()),
        };
        let placement = Placement {
            before,
            after,
            current: after,
            current_changes,
            current_removals: Vec::new(),
            extremities: vec![pdu.event_id.clone()],
            pending,
        };
        self.persist_placed(
            lock,
            info,
            rules,
            pdu,
            object,
            batch,
            placement,
            Durability::Now,
        )
        .await
    }

    /// Writes the event, its indexes, its snapshots and the room's new current state in one
    /// durable batch.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn persist_placed(
        &self,
        lock: &RoomLock,
        mut info: RoomInfo,
        rules: &RoomVersionRules,
        pdu: &PduEvent,
        object: CanonicalJsonObject,
        mut batch: WriteBatch,
        placement: Placement,
        durability: Durability<'_>,
    ) -> Result<u64> {
        let room_id = lock.room_id();
        let pending = self.notifier().next();
        let position = pending.position;
        let event_id = pdu.event_id.as_bytes().to_vec();
        put_timeline_rows(&mut batch, room_id, pdu, &object, position)?;
        Self::put_event_snapshots(&mut batch, &pdu.event_id, placement.before, placement.after);
        pending.record(
            &mut batch,
            &StreamItem::Event {
                room_id: room_id.to_owned(),
            },
        );
        if let Some((kind, key)) = pdu.state_key_pair()
            && let Some(previous) = self
                .snapshot_map_placed(placement.before, &placement.pending)?
                .get(&(kind, key))
        {
            batch.put(
                EVENTID_REPLACESSTATE,
                event_id.clone(),
                previous.as_bytes().to_vec(),
            );
        }
        for ((kind, key), held_by) in &placement.current_removals {
            batch.delete(ROOMSTATE_EVENTID, state_key(room_id, kind, key));
            if kind == "m.room.member"
                && let Ok(user) = UserId::parse(key.as_str())
            {
                // No membership any more: the log says they left here, the index forgets them.
                let record = MembershipRecord {
                    membership: Membership::Leave,
                    position,
                    event_id: held_by.clone(),
                    forgotten: false,
                };
                batch.put_json(
                    super::history::ROOMUSERPOSITION_MEMBERSHIP,
                    compound_key(&[room_id.as_bytes(), user.as_bytes(), &position.to_be_bytes()]),
                    &record,
                );
                batch.delete(
                    USERROOM_MEMBERSHIP,
                    compound_key(&[user.as_bytes(), room_id.as_bytes()]),
                );
            }
        }
        for ((kind, key), state_event_id) in &placement.current_changes {
            batch.put(
                ROOMSTATE_EVENTID,
                state_key(room_id, kind, key),
                state_event_id.as_bytes().to_vec(),
            );
            let state_event = if *state_event_id == pdu.event_id {
                pdu.clone()
            } else {
                self.pdu(state_event_id)?.ok_or_else(|| {
                    Error::Storage(format!("resolved state event {state_event_id} is missing"))
                })?
            };
            self.index_current_state(&mut batch, room_id, &state_event, position)?;
        }
        self.index_relation(&mut batch, room_id, pdu, position)?;
        self.index_push_actions(&mut batch, room_id, rules, pdu, position)
            .await?;
        if let Some(target) = pdu.redacted_event() {
            self.redact_stored(&mut batch, room_id, rules, &target, pdu)?;
        }
        info.forward_extremities = placement.extremities;
        info.latest_depth = info.latest_depth.max(u64::from(pdu.depth));
        info.state_snapshot = Some(placement.current);
        batch.put_json(ROOMID_INFO, room_id.as_bytes().to_vec(), &info);
        self.commit_with(batch, durability).await?;
        match durability {
            Durability::Now => drop(pending),
            Durability::Later(deferred) => pending.finish_with(deferred),
        }
        Ok(position)
    }

    fn snapshot_map_placed(
        &self,
        id: u64,
        pending: &PendingSnapshots,
    ) -> Result<std::sync::Arc<super::snapshots::StateMap>> {
        self.snapshot_map_pending(id, pending)
    }

    /// Indexes derived from a state event entering the current state.
    fn index_current_state(
        &self,
        batch: &mut WriteBatch,
        room_id: &RoomId,
        event: &PduEvent,
        position: u64,
    ) -> Result<()> {
        if event.kind == TimelineEventType::RoomMember {
            self.index_membership(batch, room_id, event, position)?;
        }
        if event.kind == TimelineEventType::RoomHistoryVisibility
            && event.state_key.as_deref() == Some("")
        {
            let visibility = event
                .content_json()
                .get("history_visibility")
                .and_then(|value| value.as_str())
                .unwrap_or("shared")
                .to_owned();
            batch.put(
                super::history::ROOMPOSITION_VISIBILITY,
                compound_key(&[room_id.as_bytes(), &position.to_be_bytes()]),
                visibility.into_bytes(),
            );
        }
        Ok(())
    }

    fn index_membership(
        &self,
        batch: &mut WriteBatch,
        room_id: &RoomId,
        pdu: &PduEvent,
        position: u64,
    ) -> Result<()> {
        let Some(user) = pdu
            .state_key
            .as_deref()
            .and_then(|key| UserId::parse(key).ok())
        else {
            return Err(Error::BadJson(
                "m.room.member needs a user id as state_key".into(),
            ));
        };
        let content = pdu.content_json();
        let membership = content
            .get("membership")
            .and_then(|value| value.as_str())
            .and_then(Membership::parse)
            .ok_or_else(|| Error::BadJson("Unknown membership".into()))?;
        let record = MembershipRecord {
            membership,
            position,
            event_id: pdu.event_id.clone(),
            forgotten: false,
        };
        batch.put_json(
            super::history::ROOMUSERPOSITION_MEMBERSHIP,
            compound_key(&[room_id.as_bytes(), user.as_bytes(), &position.to_be_bytes()]),
            &record,
        );
        batch.put_json(
            USERROOM_MEMBERSHIP,
            compound_key(&[user.as_bytes(), room_id.as_bytes()]),
            &record,
        );
        if user.server_name() != self.server_name() {
            // Whether this server hears of the user's key changes may have changed with this:
            // their cached keys are fetched afresh when next asked for.
            batch.delete(crate::users::REMOTEUSER_KEYS, user.as_bytes().to_vec());
        }
        Ok(())
    }

    /// Replaces the stored target of a redaction with its redacted form, so the removed content
    /// is gone from storage and from everything served afterwards.
    fn redact_stored(
        &self,
        batch: &mut WriteBatch,
        room_id: &RoomId,
        rules: &RoomVersionRules,
        target: &ruma::EventId,
        redaction: &PduEvent,
    ) -> Result<()> {
        let Some(bytes) = self.store().get(EVENTID_PDU, target.as_bytes())? else {
            return Ok(());
        };
        let mut object: CanonicalJsonObject =
            serde_json::from_slice(&bytes).map_err(Error::storage)?;
        if object.get("room_id").and_then(|value| value.as_str()) != Some(room_id.as_str()) {
            return Ok(());
        }
        let Ok(original) = PduEvent::from_canonical(target.to_owned(), &object) else {
            return Ok(());
        };
        // The authorization rules accept any member's redaction; it takes effect only when its
        // sender's server also sent the event, or the sender may redact others' events (the
        // spec's rule for applying redactions, as Synapse checks it).
        if redaction.sender.server_name() != original.sender.server_name() {
            let required = self.power_level_for(room_id, "redact", 50)?;
            if self.user_power_level(room_id, &redaction.sender)? < required {
                tracing::info!(redaction = %redaction.event_id, %target, "not applying a redaction its sender may not make");
                return Ok(());
            }
        }
        self.unindex_relation(batch, &original)?;
        let because = ruma::canonical_json::RedactedBecause::from_json(
            serde_json::from_value(serde_json::json!({
                "event_id": redaction.event_id,
                "sender": redaction.sender,
                "origin_server_ts": redaction.origin_server_ts,
                "type": "m.room.redaction",
                "content": redaction.content_json(),
            }))
            .map_err(|error| Error::Internal(error.to_string()))?,
        );
        redact_in_place(&mut object, &rules.redaction, Some(because))
            .map_err(|error| Error::Internal(format!("redaction failed: {error}")))?;
        batch.put(
            EVENTID_PDU,
            target.as_bytes().to_vec(),
            serde_json::to_vec(&object).map_err(|error| Error::Internal(error.to_string()))?,
        );
        Ok(())
    }
}
