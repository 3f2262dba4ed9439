//! Relations between events: edits (`m.replace`), reactions (`m.annotation`), threads
//! (`m.thread`) and replies. Indexed when an event is persisted; served through `/relations`,
//! `/threads` and the bundled aggregations in `unsigned.m.relations`.

use std::ops::Bound;

use ruma::{EventId, OwnedEventId, RoomId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as JsonValue, json};

use super::{PduEvent, Rooms, timeline::Direction};
use crate::{
    error::{Error, Result},
    storage::{WriteBatch, compound_key},
};

/// parent event id, child position → child.
const PARENTPOSITION_RELATION: &str = "parentposition_relation";
/// room, latest thread activity position → thread root.
const ROOMACTIVITY_THREADROOT: &str = "roomactivity_threadroot";
/// room, thread root → latest activity position.
const ROOMTHREAD_ACTIVITY: &str = "roomthread_activity";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RelationRecord {
    event_id: OwnedEventId,
    rel_type: String,
    event_type: String,
    sender: ruma::OwnedUserId,
}

/// `(rel_type, parent)` of an event that relates to another.
pub(crate) fn relation_of(pdu: &PduEvent) -> Option<(String, OwnedEventId)> {
    let content = pdu.content_json();
    let relates_to = content.get("m.relates_to")?;
    let rel_type = relates_to.get("rel_type")?.as_str()?.to_owned();
    let parent = EventId::parse(relates_to.get("event_id")?.as_str()?).ok()?;
    Some((rel_type, parent))
}

impl Rooms {
    /// Adds the relation indexes of `pdu` (persisted at `position`) to `batch`.
    pub(crate) fn index_relation(
        &self,
        batch: &mut WriteBatch,
        room_id: &RoomId,
        pdu: &PduEvent,
        position: u64,
    ) -> Result<()> {
        let Some((rel_type, parent)) = relation_of(pdu) else {
            return Ok(());
        };
        let record = RelationRecord {
            event_id: pdu.event_id.clone(),
            rel_type: rel_type.clone(),
            event_type: pdu.kind.to_string(),
            sender: pdu.sender.clone(),
        };
        batch.put_json(
            PARENTPOSITION_RELATION,
            compound_key(&[parent.as_bytes(), &position.to_be_bytes()]),
            &record,
        );
        if rel_type == "m.thread" {
            let thread_key = compound_key(&[room_id.as_bytes(), parent.as_bytes()]);
            if let Some(previous) = self.store().get(ROOMTHREAD_ACTIVITY, &thread_key)? {
                batch.delete(
                    ROOMACTIVITY_THREADROOT,
                    compound_key(&[room_id.as_bytes(), &previous]),
                );
            }
            batch.put(
                ROOMTHREAD_ACTIVITY,
                thread_key,
                position.to_be_bytes().to_vec(),
            );
            batch.put(
                ROOMACTIVITY_THREADROOT,
                compound_key(&[room_id.as_bytes(), &position.to_be_bytes()]),
                parent.as_bytes().to_vec(),
            );
        }
        Ok(())
    }

    /// Drops the relation index entry of `pdu`, which is being redacted: a redacted event
    /// relates to nothing any more, so it leaves `/relations`, the aggregations and the
    /// duplicate-annotation check (the user may react with the same key again).
    pub(crate) fn unindex_relation(&self, batch: &mut WriteBatch, pdu: &PduEvent) -> Result<()> {
        let Some((_, parent)) = relation_of(pdu) else {
            return Ok(());
        };
        let Some(position) = self.event_position(&pdu.event_id)? else {
            return Ok(());
        };
        batch.delete(
            PARENTPOSITION_RELATION,
            compound_key(&[parent.as_bytes(), &position.to_be_bytes()]),
        );
        Ok(())
    }

    fn relation_records(
        &self,
        parent: &EventId,
        after: u64,
        up_to: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<(u64, RelationRecord)>> {
        let start = compound_key(&[parent.as_bytes(), &(after + 1).to_be_bytes()]);
        let end = compound_key(&[parent.as_bytes(), &up_to.to_be_bytes()]);
        let prefix_len = parent.as_bytes().len() + 1;
        self.store()
            .range(
                PARENTPOSITION_RELATION,
                Bound::Included(&start),
                Bound::Included(&end),
                direction == Direction::Backward,
                limit,
            )?
            .into_iter()
            .map(|(key, value)| {
                let position = key
                    .get(prefix_len..)
                    .and_then(|bytes| bytes.try_into().ok())
                    .map(u64::from_be_bytes)
                    .ok_or_else(|| Error::Storage("bad relation key".into()))?;
                Ok((
                    position,
                    serde_json::from_slice(&value).map_err(Error::storage)?,
                ))
            })
            .collect()
    }

    /// Children of `parent` within `(after, up_to]`, optionally of one relation and event type.
    /// Returns the events with positions, and whether more remain.
    #[allow(clippy::too_many_arguments)]
    pub fn relations(
        &self,
        parent: &EventId,
        rel_type: Option<&str>,
        event_type: Option<&str>,
        after: u64,
        up_to: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<(Vec<(u64, PduEvent)>, bool)> {
        let mut events = Vec::new();
        let mut more = false;
        for (position, record) in
            self.relation_records(parent, after, up_to, direction, usize::MAX)?
        {
            if rel_type.is_some_and(|wanted| wanted != record.rel_type)
                || event_type.is_some_and(|wanted| wanted != record.event_type)
            {
                continue;
            }
            if events.len() == limit {
                more = true;
                break;
            }
            if let Some(event) = self.pdu(&record.event_id)? {
                events.push((position, event));
            }
        }
        Ok((events, more))
    }

    /// The server-side aggregations clients expect in `unsigned.m.relations`: the latest valid
    /// edit and the thread summary (reactions are not bundled since Matrix 1.7).
    pub fn bundled_aggregations(
        &self,
        event: &PduEvent,
        user_id: &UserId,
        up_to: u64,
    ) -> Result<Option<JsonValue>> {
        let records =
            self.relation_records(&event.event_id, 0, up_to, Direction::Backward, usize::MAX)?;
        if records.is_empty() {
            return Ok(None);
        }
        let mut relations = Map::new();
        let latest_edit = records.iter().find(|(_, record)| {
            record.rel_type == "m.replace"
                && record.sender == event.sender
                && record.event_type == event.kind.to_string()
        });
        if let Some((_, record)) = latest_edit
            && let Some(edit) = self.pdu(&record.event_id)?
            && edit.content_json().get("m.new_content").is_some()
        {
            relations.insert("m.replace".into(), edit.to_client_event(true));
        }
        let replies: Vec<&RelationRecord> = records
            .iter()
            .filter(|(_, record)| record.rel_type == "m.thread")
            .map(|(_, record)| record)
            .collect();
        if let Some(latest) = replies.first()
            && let Some(latest_event) = self.pdu(&latest.event_id)?
        {
            let participated =
                event.sender == user_id || replies.iter().any(|reply| reply.sender == user_id);
            relations.insert(
                "m.thread".into(),
                json!({ "latest_event": latest_event.to_client_event(true), "count": replies.len(), "current_user_participated": participated }),
            );
        }
        Ok((!relations.is_empty()).then_some(JsonValue::Object(relations)))
    }

    /// Thread roots of a room, most recent activity first; `participated` keeps only threads the
    /// user started or replied to. Positions are of the latest activity, for pagination.
    pub fn threads(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        before: u64,
        participated: bool,
        limit: usize,
    ) -> Result<(Vec<(u64, PduEvent)>, bool)> {
        let prefix = compound_key(&[room_id.as_bytes(), b""]);
        let end = compound_key(&[room_id.as_bytes(), &before.to_be_bytes()]);
        let rows = self.store().range(
            ROOMACTIVITY_THREADROOT,
            Bound::Included(&prefix),
            Bound::Included(&end),
            true,
            usize::MAX,
        )?;
        let mut threads = Vec::new();
        for (key, value) in rows {
            let position = key
                .get(prefix.len()..)
                .and_then(|bytes| bytes.try_into().ok())
                .map(u64::from_be_bytes)
                .ok_or_else(|| Error::Storage("bad thread key".into()))?;
            let Some(root) = String::from_utf8(value)
                .ok()
                .and_then(|id| EventId::parse(id).ok())
            else {
                continue;
            };
            let Some(root_event) = self.pdu(&root)? else {
                continue;
            };
            if participated {
                let replied = self
                    .relation_records(&root, 0, u64::MAX, Direction::Forward, usize::MAX)?
                    .iter()
                    .any(|(_, record)| record.rel_type == "m.thread" && record.sender == user_id);
                if root_event.sender != user_id && !replied {
                    continue;
                }
            }
            if threads.len() == limit {
                return Ok((threads, true));
            }
            threads.push((position, root_event));
        }
        Ok((threads, false))
    }

    /// Refuses a second identical reaction by the same user, as Synapse does.
    pub(crate) fn check_duplicate_annotation(
        &self,
        sender: &UserId,
        content: &JsonValue,
    ) -> Result<()> {
        let Some(relates_to) = content.get("m.relates_to") else {
            return Ok(());
        };
        if relates_to.get("rel_type").and_then(JsonValue::as_str) != Some("m.annotation") {
            return Ok(());
        }
        let (Some(parent), Some(key)) = (
            relates_to
                .get("event_id")
                .and_then(JsonValue::as_str)
                .and_then(|id| EventId::parse(id).ok()),
            relates_to.get("key"),
        ) else {
            return Ok(());
        };
        for (_, record) in
            self.relation_records(&parent, 0, u64::MAX, Direction::Forward, usize::MAX)?
        {
            if record.rel_type == "m.annotation"
                && record.sender == sender
                && let Some(existing) = self.pdu(&record.event_id)?
                && existing
                    .content_json()
                    .get("m.relates_to")
                    .and_then(|relation| relation.get("key"))
                    == Some(key)
            {
                return Err(Error::DuplicateAnnotation(
                    "You already reacted with this key".into(),
                ));
            }
        }
        Ok(())
    }
}
