//! Events from other servers: stored as outliers (auth chains, state fetched for a join) or placed
//! in the timeline after the authorization checks the spec orders: against the event's auth
//! events, against the state before it (resolved over its `prev_events`) and, for soft failure,
//! against the room's current state. The federation crate verifies signatures and hashes and
//! fetches what is missing before it calls in here; this module never touches the network.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::Arc,
};

use ruma::{
    CanonicalJsonObject, EventId, OwnedEventId, OwnedServerName, RoomId, ServerName,
    events::StateEventType, room_version_rules::RoomVersionRules,
};

use super::{
    PduEvent, Rooms,
    build::rules_of,
    persist::{Durability, Placement},
    snapshots::{PendingSnapshots, StateMap},
    state::EVENTID_PDU,
};
use crate::{
    error::{Error, Result},
    storage::WriteBatch,
};

/// Events received as the resident of a `send_*` handshake → the server they came from (the
/// federation sender relays them to the room's other servers).
pub(crate) const EVENTID_RELAYEDFROM: &str = "eventid_relayedfrom";

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

/// `events` ordered so that every event comes after the events of the list it cites as auth
/// events (depth first, then a depth-first walk of the auth references; cycles, which no valid
/// graph has, are broken by the depth order).
fn auth_order(mut events: Vec<(PduEvent, &RemoteEvent)>) -> Vec<(PduEvent, &RemoteEvent)> {
    events.sort_by_key(|(pdu, _)| pdu.depth);
    let index: HashMap<OwnedEventId, usize> = events
        .iter()
        .enumerate()
        .map(|(at, (pdu, _))| (pdu.event_id.clone(), at))
        .collect();
    let mut placed = vec![false; events.len()];
    let mut order = Vec::with_capacity(events.len());
    for start in 0..events.len() {
        // (event, whether its auth events were pushed already)
        let mut stack = vec![(start, false)];
        while let Some((at, expanded)) = stack.pop() {
            if placed[at] {
                continue;
            }
            if expanded {
                placed[at] = true;
                order.push(at);
                continue;
            }
            stack.push((at, true));
            for auth in &events[at].0.auth_events {
                if let Some(&cited) = index.get(auth)
                    && !placed[cited]
                    && !stack.iter().any(|(pending, _)| *pending == cited)
                {
                    stack.push((cited, false));
                }
            }
        }
    }
    let mut slots: Vec<Option<(PduEvent, &RemoteEvent)>> = events.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|at| slots[at].take())
        .collect()
}

/// Events refused by the authorization rules (their JSON), kept apart from accepted events so
/// that events citing them as auth events are refused too.
pub(crate) const EVENTID_REJECTED: &str = "eventid_rejected";

impl Rooms {
    /// The event is known here: stored (in the timeline or as an outlier), or rejected.
    pub fn has_event(&self, event_id: &EventId) -> Result<bool> {
        Ok(self
            .store()
            .get(EVENTID_PDU, event_id.as_bytes())?
            .is_some()
            || self.is_rejected(event_id)?)
    }

    /// Whether the event was refused by the authorization rules.
    pub fn is_rejected(&self, event_id: &EventId) -> Result<bool> {
        Ok(self
            .store()
            .get(EVENTID_REJECTED, event_id.as_bytes())?
            .is_some())
    }

    /// Checks an event against the state its own auth events make (the spec's first
    /// authorization check), looking events up with `fetch`.
    pub(crate) fn authorize_with_auth_events(
        &self,
        rules: &RoomVersionRules,
        pdu: &PduEvent,
        fetch: impl Fn(&EventId) -> Option<PduEvent>,
    ) -> std::result::Result<(), String> {
        ruma::state_res::check_state_independent_auth_rules(&rules.authorization, pdu, &fetch)?;
        let mut auth_state: BTreeMap<(String, String), PduEvent> = BTreeMap::new();
        if rules.authorization.room_create_event_id_as_room_id
            && let Ok(create) = EventId::parse(format!("${}", &pdu.room().as_str()[1..]))
            && let Some(create) = fetch(&create)
        {
            // Room version 12 leaves the create event out of auth_events: it is the room id.
            auth_state.insert(("m.room.create".to_owned(), String::new()), create);
        }
        for id in &pdu.auth_events {
            if let Some(auth) = fetch(id)
                && let Some(pair) = auth.state_key_pair()
            {
                auth_state.insert(pair, auth);
            }
        }
        ruma::state_res::check_state_dependent_auth_rules(
            &rules.authorization,
            pdu,
            |kind: &StateEventType, key: &str| {
                auth_state.get(&(kind.to_string(), key.to_owned())).cloned()
            },
        )
    }

    /// Whether the event has a place in the room's graph (state known at it).
    pub fn is_placed(&self, event_id: &EventId) -> Result<bool> {
        Ok(self.event_snapshots(event_id)?.is_some())
    }

    /// Stores a membership event of a room this server is not in (a local user's leave made
    /// through `make_leave`, an invite rescinded by the room) as it is: its auth events are the
    /// room's, which this server does not have, so it cannot be checked against them; its
    /// signatures were.
    pub async fn store_membership_outlier(&self, event: &RemoteEvent) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.put(
            EVENTID_PDU,
            event.event_id.as_bytes().to_vec(),
            serde_json::to_vec(&event.object)
                .map_err(|error| Error::Internal(error.to_string()))?,
        );
        self.store().commit(batch).await
    }

    /// Stores events without placing them in the timeline: auth chains and fetched state.
    ///
    /// Each is checked against its own auth events, oldest first, when they are all at hand;
    /// one whose auth events were rejected, or that its auth events do not allow, is rejected
    /// (and so is every event that cites it) [Complement
    /// TestInboundFederationRejectsEventsWithRejectedAuthEvents]. An event whose auth events
    /// are partly out of reach is kept as it is.
    pub async fn store_outliers(&self, events: &[RemoteEvent]) -> Result<()> {
        self.store_outliers_with(events, None).await
    }

    /// [`Rooms::store_outliers`] for a room that is not known here yet (a `send_join` answer),
    /// checked by the given version's rules.
    pub(crate) async fn store_outliers_with(
        &self,
        events: &[RemoteEvent],
        room_rules: Option<&RoomVersionRules>,
    ) -> Result<()> {
        let mut batch = WriteBatch::new();
        let mut unordered: Vec<(PduEvent, &RemoteEvent)> = Vec::with_capacity(events.len());
        for event in events {
            if !self.has_event(&event.event_id)? {
                unordered.push((event.pdu()?, event));
            }
        }
        // Auth events first, whatever their depth says: an event is checked after everything
        // it cites from this batch.
        let ordered = auth_order(unordered);
        let mut accepted: HashMap<OwnedEventId, PduEvent> = HashMap::new();
        let mut rejected: HashSet<OwnedEventId> = HashSet::new();
        for (pdu, event) in ordered {
            if accepted.contains_key(&event.event_id) || rejected.contains(&event.event_id) {
                continue;
            }
            let rules = match self.room_info(&pdu.room())? {
                Some(info) => Some(rules_of(&info)?),
                None => room_rules.cloned(),
            };
            let fetch = |id: &EventId| {
                accepted
                    .get(id)
                    .cloned()
                    .or_else(|| self.pdu(id).ok().flatten())
            };
            let mut refused = false;
            for id in &pdu.auth_events {
                if rejected.contains(id) || self.is_rejected(id)? || fetch(id).is_none() {
                    // An auth event that was rejected, or that nobody could give us: the event
                    // cannot be shown to be allowed, and Synapse drops it too (it must not
                    // become state through a later `state_ids` answer).
                    refused = true;
                }
            }
            if !refused
                && let Some(rules) = &rules
                && let Err(reason) = self.authorize_with_auth_events(rules, &pdu, fetch)
            {
                tracing::info!(event_id = %pdu.event_id, %reason, "rejecting an outlier");
                refused = true;
            }
            let table = if refused {
                EVENTID_REJECTED
            } else {
                EVENTID_PDU
            };
            batch.put(
                table,
                event.event_id.as_bytes().to_vec(),
                serde_json::to_vec(&event.object)
                    .map_err(|error| Error::Internal(error.to_string()))?,
            );
            if refused {
                rejected.insert(event.event_id.clone());
            } else {
                accepted.insert(event.event_id.clone(), pdu);
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
        self.store().commit(batch).await
    }

    /// Checks the rules that only need the event's own auth events (all stored).
    pub(crate) fn authorize_by_auth_events(
        &self,
        rules: &RoomVersionRules,
        pdu: &PduEvent,
    ) -> Result<()> {
        for auth_event in &pdu.auth_events {
            if self.is_rejected(auth_event)? {
                return Err(Error::Forbidden(format!(
                    "auth event {auth_event} of {} was rejected",
                    pdu.event_id
                )));
            }
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

    pub(crate) fn authorize_against(
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
        self.ingest_with(room_id, event, state_before, Durability::Now, None)
            .await
    }

    /// [`Rooms::ingest`] of an event this server received as the resident of a `send_join`,
    /// `send_leave` or `send_knock` from `origin`: the mark that the federation sender relays
    /// it to the room's other servers is written in the batch that persists it, so a crash
    /// right after the answer cannot lose the relay.
    pub async fn ingest_relayed(
        &self,
        room_id: &RoomId,
        event: RemoteEvent,
        origin: &ServerName,
    ) -> Result<IngestOutcome> {
        self.ingest_with(room_id, event, None, Durability::Now, Some(origin))
            .await
    }

    /// The server an event came from through a `send_*` handshake, for events this server
    /// relays to the room's other servers as the resident.
    pub fn relayed_from(&self, event_id: &ruma::EventId) -> Result<Option<OwnedServerName>> {
        Ok(self
            .store()
            .get(EVENTID_RELAYEDFROM, event_id.as_bytes())?
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|name| OwnedServerName::try_from(name).ok()))
    }

    /// [`Rooms::ingest`] without waiting for the flush: for the PDUs of one transaction, whose
    /// answer is sent after `deferred` is released by a final durable commit that covers them
    /// all; until then their positions are not readable.
    pub async fn ingest_unflushed(
        &self,
        room_id: &RoomId,
        event: RemoteEvent,
        state_before: Option<StateMap>,
        deferred: &crate::stream::Deferred<'_>,
    ) -> Result<IngestOutcome> {
        self.ingest_with(
            room_id,
            event,
            state_before,
            Durability::Later(deferred),
            None,
        )
        .await
    }

    async fn ingest_with(
        &self,
        room_id: &RoomId,
        event: RemoteEvent,
        state_before: Option<StateMap>,
        durability: Durability<'_>,
        relayed_from: Option<&ServerName>,
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
        // Unknown auth events: nothing to decide on yet.
        if let Err(error @ Error::BadState(_)) = self.authorize_by_auth_events(&rules, &pdu) {
            return Err(error);
        }

        let mut batch = WriteBatch::new();
        let mut pending = PendingSnapshots::default();
        let (before_id, before) = match state_before {
            Some(map) => {
                let id = self.write_full_snapshot(&mut batch, &mut pending, &map)?;
                (id, Arc::new(map))
            }
            None => self.state_before_prevs(&rules, &pdu, &mut batch, &mut pending)?,
        };
        let refusal = match self.authorize_by_auth_events(&rules, &pdu) {
            Err(error) => Some(error.to_string()),
            Ok(()) => self.authorize_against(&rules, &pdu, &before).err(),
        };
        if let Some(reason) = refusal {
            // Rejected, but still part of the graph: events after it build on the state before
            // it (a rejected event changes no state), without asking anyone for it again.
            batch.put(
                EVENTID_REJECTED,
                event.event_id.as_bytes().to_vec(),
                serde_json::to_vec(&event.object)
                    .map_err(|error| Error::Internal(error.to_string()))?,
            );
            Self::put_event_snapshots(&mut batch, &pdu.event_id, before_id, before_id);
            self.commit_with(batch, durability).await?;
            return Err(Error::Forbidden(format!(
                "Event {} is not allowed by the state before it: {reason}",
                pdu.event_id
            )));
        }
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
        let mut current_removals = Vec::new();
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
                self.resolve_with(&rules, &[Arc::clone(&current), after], Some(&pdu))?
            };
            let changes: Vec<_> = resolved
                .iter()
                .filter(|(pair, id)| current.get(*pair) != Some(*id))
                .map(|(pair, id)| (pair.clone(), id.clone()))
                .collect();
            current_removals = current
                .iter()
                .filter(|(pair, _)| !resolved.contains_key(*pair))
                .map(|(pair, id)| (pair.clone(), id.clone()))
                .collect();
            let id = if linear {
                // The event's own state is the room's state now.
                after_id
            } else if changes.is_empty() && current_removals.is_empty() {
                current_id
            } else {
                self.write_full_snapshot(&mut batch, &mut pending, &resolved)?
            };
            (id, changes)
        };
        if let Some(origin) = relayed_from {
            batch.put(
                EVENTID_RELAYEDFROM,
                event.event_id.as_bytes().to_vec(),
                origin.as_bytes().to_vec(),
            );
        }
        let placement = Placement {
            before: before_id,
            after: after_id,
            current: new_current_id,
            current_changes,
            current_removals,
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
}
