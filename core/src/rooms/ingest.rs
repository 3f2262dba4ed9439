//! Events from other servers: stored as outliers (auth chains, state fetched for a join) or placed
//! in the timeline after the authorization checks the spec orders: against the event's auth
//! events, against the state before it (resolved over its `prev_events`) and, for soft failure,
//! against the room's current state. The federation crate verifies signatures and hashes and
//! fetches what is missing before it calls in here; this module never touches the network.

use std::{collections::HashSet, sync::Arc};

use ruma::{
    CanonicalJsonObject, EventId, OwnedEventId, RoomId, RoomVersionId, events::StateEventType,
    room_version_rules::RoomVersionRules,
};

use super::{
    PduEvent, RoomInfo, Rooms,
    build::rules_of,
    persist::Placement,
    snapshots::{PendingSnapshots, StateMap, from_ruma_map, to_ruma_map},
    state::EVENTID_PDU,
};
use crate::{Error, Result, storage::WriteBatch};

/// When a write must be on stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// Before the call returns.
    Now,
    /// With the next durable commit (which the caller makes before answering anyone).
    Later,
}

impl Rooms {
    pub(crate) async fn commit_with(
        &self,
        batch: WriteBatch,
        durability: Durability,
    ) -> Result<()> {
        match durability {
            Durability::Now => self.store().commit(batch).await,
            Durability::Later => self.store().commit_lazy(batch).await,
        }
    }
}

/// What became of a remote event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestOutcome {
    /// In the timeline at this stream position.
    Persisted(u64),
    /// Allowed by the state before it but not by the current state: stored, not served.
    SoftFailed,
    /// Seen before.
    AlreadyKnown,
}

/// A remote event with the id computed from its content.
#[derive(Debug, Clone)]
pub struct RemoteEvent {
    pub event_id: OwnedEventId,
    pub object: CanonicalJsonObject,
}

impl RemoteEvent {
    pub fn pdu(&self) -> Result<PduEvent> {
        PduEvent::from_canonical(self.event_id.clone(), &self.object)
    }
}

impl Rooms {
    /// The stored event, in the timeline or as an outlier.
    pub fn has_event(&self, event_id: &EventId) -> Result<bool> {
        Ok(self
            .store()
            .get(EVENTID_PDU, event_id.as_bytes())?
            .is_some())
    }

    /// Whether the event has a place in the room's graph (state known at it).
    pub fn is_placed(&self, event_id: &EventId) -> Result<bool> {
        Ok(self.event_snapshots(event_id)?.is_some())
    }

    /// Stores events without placing them in the timeline: auth chains and fetched state.
    pub async fn store_outliers(&self, events: &[RemoteEvent]) -> Result<()> {
        let mut batch = WriteBatch::new();
        for event in events {
            if self.has_event(&event.event_id)? {
                continue;
            }
            batch.put(
                EVENTID_PDU,
                event.event_id.as_bytes().to_vec(),
                serde_json::to_vec(&event.object)
                    .map_err(|error| Error::Internal(error.to_string()))?,
            );
        }
        if batch.is_empty() {
            return Ok(());
        }
        self.store().commit(batch).await
    }

    /// Checks the rules that only need the event's own auth events (all stored).
    fn authorize_by_auth_events(&self, rules: &RoomVersionRules, pdu: &PduEvent) -> Result<()> {
        for auth_event in &pdu.auth_events {
            if !self.has_event(auth_event)? {
                return Err(Error::BadState(format!(
                    "auth event {auth_event} of {} is unknown",
                    pdu.event_id
                )));
            }
        }
        ruma::state_res::check_state_independent_auth_rules(&rules.authorization, pdu, |event_id| {
            self.pdu(event_id).ok().flatten()
        })
        .map_err(|reason| {
            Error::Forbidden(format!("Event {} is not allowed: {reason}", pdu.event_id))
        })
    }

    fn authorize_against(
        &self,
        rules: &RoomVersionRules,
        pdu: &PduEvent,
        state: &StateMap,
    ) -> std::result::Result<(), String> {
        ruma::state_res::check_state_dependent_auth_rules(
            &rules.authorization,
            pdu,
            |kind: &StateEventType, key: &str| {
                state
                    .get(&(kind.to_string(), key.to_owned()))
                    .and_then(|id| self.pdu(id).ok().flatten())
            },
        )
    }

    /// Ids of `prev_events` that have no place in the graph yet.
    pub fn missing_prev_events(&self, pdu: &PduEvent) -> Result<Vec<OwnedEventId>> {
        let mut missing = Vec::new();
        for prev in &pdu.prev_events {
            if !self.is_placed(prev)? {
                missing.push(prev.clone());
            }
        }
        Ok(missing)
    }

    /// Places a remote event. Its auth events must be stored; the state before it comes from its
    /// `prev_events` (all placed) or, when they are out of reach, from `state_before` as the origin
    /// reported it (events in it stored).
    #[tracing::instrument(skip_all, fields(room_id = %room_id, event_id = %event.event_id))]
    pub async fn ingest(
        &self,
        room_id: &RoomId,
        event: RemoteEvent,
        state_before: Option<StateMap>,
    ) -> Result<IngestOutcome> {
        self.ingest_with(room_id, event, state_before, Durability::Now)
            .await
    }

    /// [`Rooms::ingest`] without waiting for the flush: for the PDUs of one transaction, whose
    /// answer is sent after a final durable commit that covers them all.
    pub async fn ingest_unflushed(
        &self,
        room_id: &RoomId,
        event: RemoteEvent,
        state_before: Option<StateMap>,
    ) -> Result<IngestOutcome> {
        self.ingest_with(room_id, event, state_before, Durability::Later)
            .await
    }

    async fn ingest_with(
        &self,
        room_id: &RoomId,
        event: RemoteEvent,
        state_before: Option<StateMap>,
        durability: Durability,
    ) -> Result<IngestOutcome> {
        let lock = self.lock(room_id).await;
        let info = self.existing_room(room_id)?;
        let rules = rules_of(&info)?;
        if self.is_placed(&event.event_id)? {
            return Ok(IngestOutcome::AlreadyKnown);
        }
        let pdu = event.pdu()?;
        if pdu.room() != room_id {
            return Err(Error::InvalidParam(format!(
                "Event {} belongs to another room",
                event.event_id
            )));
        }
        ruma::state_res::check_pdu_format(&event.object, &rules.event_format)
            .map_err(|reason| Error::BadJson(format!("Malformed event: {reason}")))?;
        self.authorize_by_auth_events(&rules, &pdu)?;

        let mut batch = WriteBatch::new();
        let mut pending = PendingSnapshots::default();
        let (before_id, before) = match state_before {
            Some(map) => {
                let id = self.write_full_snapshot(&mut batch, &mut pending, &map)?;
                (id, Arc::new(map))
            }
            None => self.state_before_prevs(&rules, &pdu, &mut batch, &mut pending)?,
        };
        self.authorize_against(&rules, &pdu, &before)
            .map_err(|reason| {
                Error::Forbidden(format!(
                    "Event {} is not allowed by the state before it: {reason}",
                    pdu.event_id
                ))
            })?;
        let after_id = match pdu.state_key_pair() {
            Some((kind, key)) => self.write_snapshot(
                &mut batch,
                &mut pending,
                Some(before_id),
                vec![(kind, key, pdu.event_id.clone())],
            )?,
            None => before_id,
        };

        let current_id = self.current_snapshot(room_id, &info, &mut batch, &mut pending)?;
        let current = self.snapshot_map_pending(current_id, &pending)?;
        if let Err(reason) = self.authorize_against(&rules, &pdu, &current) {
            tracing::info!(%reason, "soft-failing an event the current state does not allow");
            batch.put(
                EVENTID_PDU,
                event.event_id.as_bytes().to_vec(),
                serde_json::to_vec(&event.object)
                    .map_err(|error| Error::Internal(error.to_string()))?,
            );
            Self::put_event_snapshots(&mut batch, &pdu.event_id, before_id, after_id);
            self.commit_with(batch, durability).await?;
            return Ok(IngestOutcome::SoftFailed);
        }

        let mut extremities: Vec<OwnedEventId> = info
            .forward_extremities
            .iter()
            .filter(|id| !pdu.prev_events.contains(id))
            .cloned()
            .collect();
        extremities.push(pdu.event_id.clone());
        let linear = extremities.len() == 1;
        let (new_current_id, current_changes) = if linear && before_id == current_id {
            // The common case: the event extends the current state.
            let changes = pdu
                .state_key_pair()
                .map(|pair| vec![(pair, pdu.event_id.clone())])
                .unwrap_or_default();
            (after_id, changes)
        } else {
            let after = self.snapshot_map_pending(after_id, &pending)?;
            let resolved = if linear {
                (*after).clone()
            } else {
                self.resolve(&rules, &[Arc::clone(&current), after])?
            };
            let changes: Vec<_> = resolved
                .iter()
                .filter(|(pair, id)| current.get(*pair) != Some(*id))
                .map(|(pair, id)| (pair.clone(), id.clone()))
                .collect();
            let id = if linear {
                // The event's own state is the room's state now.
                after_id
            } else if changes.is_empty() {
                current_id
            } else {
                self.write_full_snapshot(&mut batch, &mut pending, &resolved)?
            };
            (id, changes)
        };
        let placement = Placement {
            before: before_id,
            after: after_id,
            current: new_current_id,
            current_changes,
            extremities,
            pending,
        };
        let position = self
            .persist_placed(
                &lock,
                info,
                &rules,
                &pdu,
                event.object,
                batch,
                placement,
                durability,
            )
            .await?;
        Ok(IngestOutcome::Persisted(position))
    }

    /// The state before an event whose `prev_events` are all placed: the state after its one
    /// parent, or the resolution of its parents' states.
    fn state_before_prevs(
        &self,
        rules: &RoomVersionRules,
        pdu: &PduEvent,
        batch: &mut WriteBatch,
        pending: &mut PendingSnapshots,
    ) -> Result<(u64, Arc<StateMap>)> {
        let mut afters = Vec::new();
        for prev in &pdu.prev_events {
            let Some((_, after)) = self.event_snapshots(prev)? else {
                return Err(Error::BadState(format!(
                    "prev event {prev} of {} is unknown",
                    pdu.event_id
                )));
            };
            if !afters.contains(&after) {
                afters.push(after);
            }
        }
        match afters.as_slice() {
            [] => Err(Error::BadJson(format!(
                "Event {} has no prev_events",
                pdu.event_id
            ))),
            [single] => Ok((*single, self.snapshot_map(*single)?)),
            many => {
                let maps = many
                    .iter()
                    .map(|id| self.snapshot_map(*id))
                    .collect::<Result<Vec<_>>>()?;
                let resolved = self.resolve(rules, &maps)?;
                let id = self.write_full_snapshot(batch, pending, &resolved)?;
                Ok((id, Arc::new(resolved)))
            }
        }
    }

    /// State resolution (v2, with the v2.1 rules of room version 12) over forks of the state.
    pub(crate) fn resolve(
        &self,
        rules: &RoomVersionRules,
        maps: &[Arc<StateMap>],
    ) -> Result<StateMap> {
        let ruma::room_version_rules::StateResolutionVersion::V2(res_rules) = &rules.state_res
        else {
            return Err(Error::Unsupported(
                "State resolution v1 rooms are not supported".into(),
            ));
        };
        let ruma_maps: Vec<_> = maps.iter().map(|map| to_ruma_map(map)).collect();
        let auth_chains = maps
            .iter()
            .map(|map| self.auth_chain(map.values().cloned()))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .map(|chain| chain.into_iter().collect())
            .collect();
        let resolved = ruma::state_res::resolve(
            &rules.authorization,
            res_rules,
            &ruma_maps,
            auth_chains,
            |event_id| self.pdu(event_id).ok().flatten(),
            |conflicted| {
                let conflicted: HashSet<OwnedEventId> =
                    conflicted.values().flatten().cloned().collect();
                self.conflicted_subgraph(&conflicted)
                    .ok()
                    .map(|set| set.into_iter().collect())
            },
        )
        .map_err(|error| Error::Internal(format!("state resolution failed: {error}")))?;
        Ok(from_ruma_map(resolved))
    }

    /// Every event reachable through `auth_events` from `roots` (the roots not included unless
    /// reachable from another root).
    pub fn auth_chain(
        &self,
        roots: impl IntoIterator<Item = OwnedEventId>,
    ) -> Result<HashSet<OwnedEventId>> {
        let mut seen = HashSet::new();
        let mut todo: Vec<OwnedEventId> = Vec::new();
        for root in roots {
            if let Some(pdu) = self.pdu(&root)? {
                todo.extend(pdu.auth_events);
            }
        }
        while let Some(id) = todo.pop() {
            if !seen.insert(id.clone()) {
                continue;
            }
            if let Some(pdu) = self.pdu(&id)? {
                todo.extend(pdu.auth_events.into_iter().filter(|id| !seen.contains(id)));
            }
        }
        Ok(seen)
    }

    /// The events of the auth graph that are both descendants and ancestors of conflicted
    /// events (state resolution v2.1).
    fn conflicted_subgraph(
        &self,
        conflicted: &HashSet<OwnedEventId>,
    ) -> Result<HashSet<OwnedEventId>> {
        let mut candidates = self.auth_chain(conflicted.iter().cloned())?;
        candidates.extend(conflicted.iter().cloned());
        let mut subgraph = HashSet::new();
        for candidate in candidates {
            if conflicted.contains(&candidate)
                || self
                    .auth_chain([candidate.clone()])?
                    .iter()
                    .any(|id| conflicted.contains(id))
            {
                subgraph.insert(candidate);
            }
        }
        Ok(subgraph)
    }

    /// Makes a remote room known locally from a `send_join` answer: the state before the join
    /// and its auth chain become outliers, the join event the first event of the local timeline.
    #[tracing::instrument(skip_all, fields(event_id = %join.event_id))]
    pub async fn join_remote_room(
        &self,
        room_version: RoomVersionId,
        join: RemoteEvent,
        state: Vec<RemoteEvent>,
        auth_chain: Vec<RemoteEvent>,
    ) -> Result<u64> {
        let pdu = join.pdu()?;
        let room_id = pdu.room();
        let lock = self.lock(&room_id).await;
        let existing = self.room_info(&room_id)?;
        let probe = RoomInfo {
            room_version: room_version.clone(),
            creator: pdu.sender.clone(),
            forward_extremities: Vec::new(),
            latest_depth: 0,
            state_snapshot: None,
        };
        let rules = rules_of(existing.as_ref().unwrap_or(&probe))?;
        self.store_outliers(&auth_chain).await?;
        self.store_outliers(&state).await?;
        let mut map = StateMap::new();
        for event in &state {
            let event_pdu = event.pdu()?;
            if event_pdu.room() != room_id {
                return Err(Error::InvalidParam(format!(
                    "State event {} belongs to another room",
                    event.event_id
                )));
            }
            if let Some(pair) = event_pdu.state_key_pair() {
                map.insert(pair, event.event_id.clone());
            }
        }
        let create_id = map
            .get(&("m.room.create".to_owned(), String::new()))
            .cloned()
            .ok_or_else(|| Error::BadJson("The room state has no create event".into()))?;
        let create = self
            .pdu(&create_id)?
            .ok_or_else(|| Error::Internal("create event vanished".into()))?;
        self.authorize_by_auth_events(&rules, &pdu)?;
        self.authorize_against(&rules, &pdu, &map)
            .map_err(|reason| {
                Error::Forbidden(format!(
                    "The join is not allowed by the room state: {reason}"
                ))
            })?;

        let mut info = existing.unwrap_or(probe);
        info.creator = create.sender.clone();
        let mut batch = WriteBatch::new();
        let mut pending = PendingSnapshots::default();
        let before = self.write_full_snapshot(&mut batch, &mut pending, &map)?;
        let pair = pdu
            .state_key_pair()
            .ok_or_else(|| Error::BadJson("A join must be a state event".into()))?;
        let after = self.write_snapshot(
            &mut batch,
            &mut pending,
            Some(before),
            vec![(pair.0.clone(), pair.1.clone(), pdu.event_id.clone())],
        )?;
        let mut after_map = map;
        after_map.insert(pair, pdu.event_id.clone());
        // A room we knew (left, or invited to) keeps entries of its old current state that the
        // new state lacks; replace them all.
        for old in self.current_state(&room_id)? {
            if let Some(old_pair) = old.state_key_pair()
                && !after_map.contains_key(&old_pair)
            {
                batch.delete(
                    super::state::ROOMSTATE_EVENTID,
                    super::state::state_key(&room_id, &old_pair.0, &old_pair.1),
                );
            }
        }
        let placement = Placement {
            before,
            after,
            current: after,
            current_changes: after_map.into_iter().collect(),
            extremities: vec![pdu.event_id.clone()],
            pending,
        };
        self.persist_placed(
            &lock,
            info,
            &rules,
            &pdu,
            join.object,
            batch,
            placement,
            Durability::Now,
        )
        .await
    }

    /// The earliest event of the room's timeline on this server, with its position.
    pub fn earliest_timeline_event(&self, room_id: &RoomId) -> Result<Option<(u64, PduEvent)>> {
        let prefix = crate::storage::compound_key(&[room_id.as_bytes(), b""]);
        let Some((key, value)) = self
            .store()
            .scan_prefix(super::persist::ROOMPOSITION_EVENTID, &prefix, 1)?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let position = key
            .get(prefix.len()..)
            .and_then(|bytes| bytes.try_into().ok())
            .map(u64::from_be_bytes)
            .ok_or_else(|| Error::Storage("bad timeline key".into()))?;
        let event_id = String::from_utf8(value)
            .ok()
            .and_then(|id| EventId::parse(id).ok())
            .ok_or_else(|| Error::Storage("bad timeline value".into()))?;
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
            let mut auth_state = StateMap::new();
            if rules.authorization.room_create_event_id_as_room_id
                && let Ok(create) = EventId::parse(format!("${}", &room_id.as_str()[1..]))
            {
                // Room version 12 leaves the create event out of auth_events: it is the room id.
                auth_state.insert(("m.room.create".to_owned(), String::new()), create);
            }
            for id in &pdu.auth_events {
                if let Some(auth) = self.pdu(id)?
                    && let Some(pair) = auth.state_key_pair()
                {
                    auth_state.insert(pair, id.clone());
                }
            }
            if let Err(reason) = self.authorize_against(&rules, &pdu, &auth_state) {
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
