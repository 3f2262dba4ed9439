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
        // A report's id: its receipt time in ms, made unique by counting on past the last one.
        let _guard = self.reports_lock().lock().await;
        let last = self
            .store()
            .range(
                REPORT,
                std::ops::Bound::Unbounded,
                std::ops::Bound::Unbounded,
                true,
                1,
            )?
            .first()
            .map_or(0, |(key, _)| report_id(key));
        let key = received_ms.max(last + 1).to_be_bytes().to_vec();
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
        Ok(self
            .numbered_reports()?
            .into_iter()
            .map(|(_, report)| report)
            .collect())
    }

    /// Every report with its id, oldest first.
    pub fn numbered_reports(&self) -> Result<Vec<(u64, Report)>> {
        self.store()
            .scan_prefix(REPORT, b"", usize::MAX)?
            .into_iter()
            .map(|(key, value)| {
                Ok((
                    report_id(&key),
                    serde_json::from_slice(&value).map_err(Error::storage)?,
                ))
            })
            .collect()
    }

    /// Deletes a report (an administrator dealt with it).
    pub async fn delete_report(&self, id: u64) -> Result<()> {
        let key = self
            .store()
            .scan_prefix(REPORT, &id.to_be_bytes(), 1)?
            .into_iter()
            .map(|(key, _)| key)
            .find(|key| report_id(key) == id)
            .ok_or_else(|| Error::NotFound("Event report not found".into()))?;
        let mut batch = WriteBatch::new();
        batch.delete(REPORT, key);
        self.store().commit(batch).await
    }
}

/// The id of a report from its key: the first eight bytes (older keys add random letters).
fn report_id(key: &[u8]) -> u64 {
    key.get(..8)
        .and_then(|bytes| bytes.try_into().ok())
        .map_or(0, u64::from_be_bytes)
}
