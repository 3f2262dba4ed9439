//! State resolution over forks of a room's state (ruma's v2, with the v2.1 rules of room
//! version 12), and the auth chains it needs.

use std::{collections::HashSet, sync::Arc};

use ruma::{OwnedEventId, room_version_rules::RoomVersionRules};

use super::{
    PduEvent, Rooms,
    snapshots::{StateMap, from_ruma_map, to_ruma_map},
};
use crate::error::{Error, Result};

impl Rooms {
    /// State resolution (v2, with the v2.1 rules of room version 12) over forks of the state.
    pub(crate) fn resolve(
        &self,
        rules: &RoomVersionRules,
        maps: &[Arc<StateMap>],
    ) -> Result<StateMap> {
        self.resolve_with(rules, maps, None)
    }

    /// Resolves forks of a room's state (the states after the `prev_events` of an event whose
    /// history this server is missing), by the room's version.
    pub fn resolve_forks(&self, room_id: &ruma::RoomId, maps: Vec<StateMap>) -> Result<StateMap> {
        let rules = super::build::rules_of(&self.existing_room(room_id)?)?;
        let maps: Vec<Arc<StateMap>> = maps.into_iter().map(Arc::new).collect();
        match maps.as_slice() {
            [] => Ok(StateMap::new()),
            [single] => Ok((**single).clone()),
            _ => self.resolve(&rules, &maps),
        }
    }

    /// [`Rooms::resolve`] with an event that is in one of the maps but not stored yet (the
    /// event being placed): resolution must see it like any other, or its state is lost when
    /// the room forks (two servers' members joining at once dropped one of the joins).
    pub(crate) fn resolve_with(
        &self,
        rules: &RoomVersionRules,
        maps: &[Arc<StateMap>],
        placing: Option<&PduEvent>,
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
            .map(|map| self.auth_chain_with(map.values().cloned(), placing))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .map(|chain| chain.into_iter().collect())
            .collect();
        let resolved = ruma::state_res::resolve(
            &rules.authorization,
            res_rules,
            &ruma_maps,
            auth_chains,
            |event_id| self.pdu_or_placing(event_id, placing),
            |conflicted| {
                let conflicted: HashSet<OwnedEventId> =
                    conflicted.values().flatten().cloned().collect();
                self.conflicted_subgraph(&conflicted, placing)
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
        self.auth_chain_with(roots, None)
    }

    /// A stored event, or the one being placed.
    fn pdu_or_placing(
        &self,
        event_id: &ruma::EventId,
        placing: Option<&PduEvent>,
    ) -> Option<PduEvent> {
        match placing {
            Some(event) if event.event_id == event_id => Some(event.clone()),
            _ => self.pdu(event_id).ok().flatten(),
        }
    }

    fn auth_chain_with(
        &self,
        roots: impl IntoIterator<Item = OwnedEventId>,
        placing: Option<&PduEvent>,
    ) -> Result<HashSet<OwnedEventId>> {
        let mut seen = HashSet::new();
        let mut todo: Vec<OwnedEventId> = Vec::new();
        for root in roots {
            if let Some(pdu) = self.pdu_or_placing(&root, placing) {
                todo.extend(pdu.auth_events);
            }
        }
        while let Some(id) = todo.pop() {
            if !seen.insert(id.clone()) {
                continue;
            }
            if let Some(pdu) = self.pdu_or_placing(&id, placing) {
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
        placing: Option<&PduEvent>,
    ) -> Result<HashSet<OwnedEventId>> {
        let mut candidates = self.auth_chain_with(conflicted.iter().cloned(), placing)?;
        candidates.extend(conflicted.iter().cloned());
        let mut subgraph = HashSet::new();
        for candidate in candidates {
            if conflicted.contains(&candidate)
                || self
                    .auth_chain_with([candidate.clone()], placing)?
                    .iter()
                    .any(|id| conflicted.contains(id))
            {
                subgraph.insert(candidate);
            }
        }
        Ok(subgraph)
    }
}
