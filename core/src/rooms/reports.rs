//! Reports of events, rooms and users to the server's administrators (`/report`). Kept in the
//! store, newest last; administrators list them with `myelin reports list`.

use ruma::{EventId, OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UserId};
use serde::{Deserialize, Serialize};

use super::Rooms;
use crate::{
    error::{Error, Result},
    storage::WriteBatch,
    users::now_ms,
};

const REPORT: &str = "timestamp_report";
/// Reasons longer than this are refused (Synapse has no limit; this keeps the table sane).
pub const MAX_REASON_BYTES: usize = 10_000;

/// What was reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReportTarget {
    Event {
        room_id: OwnedRoomId,
        event_id: OwnedEventId,
    },
    Room {
        room_id: OwnedRoomId,
    },
    User {
        user_id: OwnedUserId,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub reporter: OwnedUserId,
    pub target: ReportTarget,
    pub reason: Option<String>,
    pub received_ms: u64,
}

impl Rooms {
    /// Files a report of an event the reporter can see (`NotFound` otherwise, so reports do not
    /// reveal events), of a room this server knows, or of a user.
    pub async fn report(
        &self,
        reporter: &UserId,
        target: ReportTarget,
        reason: Option<String>,
    ) -> Result<()> {
        if reason
            .as_ref()
            .is_some_and(|reason| reason.len() > MAX_REASON_BYTES)
        {
            return Err(Error::TooLarge("The reason is too long".into()));
        }
        match &target {
            ReportTarget::Event { room_id, event_id } => {
                self.check_reportable_event(reporter, room_id, event_id)?;
            }
            ReportTarget::Room { room_id } => {
                if self.room_info(room_id)?.is_none() {
                    return Err(Error::NotFound("Room not found".into()));
                }
            }
            ReportTarget::User { .. } => {}
        }
        let received_ms = now_ms();
        let mut key = received_ms.to_be_bytes().to_vec();
        key.extend_from_slice(crate::users::random_string(8).as_bytes());
        let mut batch = WriteBatch::new();
        batch.put_json(
            REPORT,
            key,
            &Report {
                reporter: reporter.to_owned(),
                target,
                reason,
                received_ms,
            },
        );
        self.store().commit(batch).await
    }

    fn check_reportable_event(
        &self,
        reporter: &UserId,
        room_id: &RoomId,
        event_id: &EventId,
    ) -> Result<()> {
        let not_found = || Error::NotFound("Event not found".into());
        let position = self.event_position(event_id)?.ok_or_else(not_found)?;
        let event = self.pdu(event_id)?.ok_or_else(not_found)?;
        let membership = self.membership(room_id, reporter)?;
        // Users who never joined read nothing of the room.
        let readable = match self.readable_until(room_id, reporter) {
            Ok(readable) => readable,
            Err(Error::Forbidden(_) | Error::NotFound(_)) => return Err(not_found()),
            Err(other) => return Err(other),
        };
        if event.room() != room_id
            || position > readable
            || !self.event_visible(room_id, reporter, position, membership)?
        {
            return Err(not_found());
        }
        Ok(())
    }

    /// Every report, oldest first.
    pub fn reports(&self) -> Result<Vec<Report>> {
        self.store()
            .scan_prefix(REPORT, b"", usize::MAX)?
            .into_iter()
            .map(|(_, value)| serde_json::from_slice(&value).map_err(Error::storage))
            .collect()
    }
}
