//! `POST /_synapse/admin/v1/purge_history/{roomId}[/{eventId}]` and its status: deleting a
//! room's old history on this server (Synapse's `docs/admin_api/purge_history_api.md`).
//! Synapse purges in the background; Myelin purges before answering and keeps the status for
//! `purge_history_status` (and `scheduled_tasks`) until the next restart.

use axum::{Json, extract::State};
use myelin_core::{Error, rooms::Direction};
use ruma::{EventId, RoomId};
use serde_json::{Value as JsonValue, json};

use super::{endpoints, require_admin, tasks};
use crate::{ApiError, AppState, Ruma};

/// Where the purge stops.
enum Point<'a> {
    Event(&'a EventId),
    Timestamp(u64),
}

async fn purge(
    state: &AppState,
    room_id: &RoomId,
    point: Point<'_>,
    delete_local_events: bool,
) -> Result<Json<JsonValue>, ApiError> {
    let rooms = &state.services.rooms;
    if rooms.room_info(room_id)?.is_none() {
        return Err(Error::NotFound("Unknown room".into()).into());
    }
    let before = match point {
        Point::Event(event_id) => {
            let event = rooms
                .pdu(event_id)?
                .ok_or_else(|| Error::NotFound("Unknown event".into()))?;
            if event.room() != room_id {
                return Err(Error::InvalidParam("Event is for wrong room.".into()).into());
            }
            rooms
                .event_position(event_id)?
                .ok_or_else(|| Error::InvalidParam("The event is not in the timeline".into()))?
        }
        // The first event at or after the time; with none, everything is older (the newest
        // event stays in any case).
        Point::Timestamp(ts) => {
            match rooms.event_at_timestamp_any(room_id, ts, Direction::Forward)? {
                Some(event) => rooms.event_position(&event.event_id)?.unwrap_or(u64::MAX),
                None => u64::MAX,
            }
        }
    };
    let outcome = rooms
        .purge_history(room_id, before, delete_local_events)
        .await
        .map(|purged| json!({ "purged_events": purged }))
        .map_err(|error| {
            tracing::warn!(%room_id, %error, "history purge failed");
            error.to_string()
        });
    let purge_id = tasks::record(state, "purge_history", room_id.as_str(), outcome);
    Ok(Json(json!({ "purge_id": purge_id })))
}

/// # `POST /_synapse/admin/v1/purge_history/{roomId}`
///
/// `purge_up_to_event_id` or `purge_up_to_ts` (milliseconds) says where to stop;
/// `delete_local_events` whether this server's users' messages go too.
pub async fn purge_history(
    State(state): State<AppState>,
    request: Ruma<endpoints::purge_history::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let body = &request.body;
    let point = match (&body.purge_up_to_event_id, body.purge_up_to_ts) {
        (Some(event_id), _) => Point::Event(event_id),
        (None, Some(ts)) => Point::Timestamp(ts),
        (None, None) => {
            return Err(Error::MissingParam(
                "must specify purge_up_to_event_id or purge_up_to_ts".into(),
            )
            .into());
        }
    };
    purge(&state, &body.room_id, point, body.delete_local_events).await
}

/// # `POST /_synapse/admin/v1/purge_history/{roomId}/{eventId}`
pub async fn purge_history_to_event(
    State(state): State<AppState>,
    request: Ruma<endpoints::purge_history_to_event::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let body = &request.body;
    purge(
        &state,
        &body.room_id,
        Point::Event(&body.event_id),
        body.delete_local_events,
    )
    .await
}

/// # `GET /_synapse/admin/v1/purge_history_status/{purgeId}`
pub async fn purge_history_status(
    State(state): State<AppState>,
    request: Ruma<endpoints::purge_history_status::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let task = tasks::find(&state, "purge_history", &request.body.purge_id)
        .ok_or_else(|| Error::NotFound("purge id not found".into()))?;
    let mut status = json!({ "status": task.status });
    if let Some(error) = task.error {
        status["error"] = error.into();
    }
    Ok(Json(status))
}
