//! Joining a room of another server: the `send_join` answer becomes the room's state here.

use ruma::RoomVersionId;

use super::{
    RoomInfo, Rooms,
    build::rules_of,
    ingest::RemoteEvent,
    persist::{Durability, Placement},
    snapshots::{PendingSnapshots, StateMap},
};
use crate::{
    error::{Error, Result},
    storage::WriteBatch,
};

/// Local events another server was handed through `send_join` (and sends on itself).
pub(crate) const EVENTID_HANDSHAKE: &str = "eventid_handshake";

impl Rooms {
    /// Whether a local event reached the room through a `send_*` handshake, so that the
    /// federation sender leaves it to the resident server.
    pub fn sent_by_handshake(&self, event_id: &ruma::EventId) -> Result<bool> {
        Ok(self
            .store()
            .get(EVENTID_HANDSHAKE, event_id.as_bytes())?
            .is_some())
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
        // Checked by the room's rules although the room is not known here yet; what they
        // reject is left out of the state.
        let mut checked: Vec<RemoteEvent> = auth_chain;
        checked.extend(state.iter().cloned());
        self.store_outliers_with(&checked, Some(&rules)).await?;
        let mut map = StateMap::new();
        for event in &state {
            if self.is_rejected(&event.event_id)? {
                tracing::info!(event_id = %event.event_id, "leaving a rejected event out of the joined state");
                continue;
            }
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
        // The resident server sends the join to the rest of the room; sending it again would
        // hand the room's servers (the resident first) an event they have [Complement
        // TestOutboundFederationSend].
        batch.put(
            EVENTID_HANDSHAKE,
            pdu.event_id.as_bytes().to_vec(),
            Vec::new(),
        );
        let placement = Placement {
            before,
            after,
            current: after,
            current_changes: after_map.into_iter().collect(),
            current_removals: Vec::new(),
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
}
