//! `POST /_synapse/admin/v1/user/{userId}/redact` and its status: redacting what a user sent
//! (Synapse's `docs/admin_api/user_admin_api.md`, "Redact all the events of a user"). Synapse
//! works in the background; Myelin redacts before answering and keeps the status for
//! `redact_status` until the next restart.

use axum::{Json, extract::State};
use myelin_core::{Error, rooms::EventSpec};
use serde_json::{Map, Value as JsonValue, json};

use super::{endpoints, require_admin, tasks};
use crate::{ApiError, AppState, Ruma};

/// Synapse's default number of events looked at per room.
const DEFAULT_LIMIT: u64 = 1000;

/// # `POST /_synapse/admin/v1/user/{userId}/redact`
///
/// The user's messages and own member events in the rooms named (every room they are or were
/// in when none are), newest first, up to `limit` a room. Redacted by the user while they are
/// in the room (anyone may redact their own), else by the administrator, who must be in the
/// room with the power to. What could not be redacted is listed with the reason.
pub async fn redact_user(
    State(state): State<AppState>,
    request: Ruma<endpoints::redact_user::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    require_admin(&state, identity)?;
    let body = &request.body;
    let rooms = &state.services.rooms;
    let user_id = &body.user_id;
    let local = state.services.users.is_local(user_id);
    if local && state.services.users.account(user_id)?.is_none() {
        return Err(Error::NotFound("User not found".into()).into());
    }
    let limit = usize::try_from(body.limit.unwrap_or(DEFAULT_LIMIT)).unwrap_or(usize::MAX);
    let targets = if body.rooms.is_empty() {
        rooms.rooms_ever_joined(user_id)?
    } else {
        body.rooms.clone()
    };
    let mut failed = Map::new();
    for room_id in &targets {
        if rooms.room_info(room_id)?.is_none() {
            continue;
        }
        // The user while they are in the room (anyone may redact their own events), else the
        // administrator, who needs the power to redact others' events there.
        let redactor = if local && rooms.is_joined(room_id, user_id)? {
            Some(user_id)
        } else if rooms.is_joined(room_id, &identity.user_id)? {
            Some(&identity.user_id)
        } else {
            None
        };
        for event in rooms.redactable_events_of(room_id, user_id, limit)? {
            let Some(redactor) = redactor else {
                failed.insert(
                    event.event_id.to_string(),
                    "Neither the user nor the administrator is in the room".into(),
                );
                continue;
            };
            let spec = EventSpec::redaction(&event.event_id, body.reason.as_deref());
            if let Err(error) = rooms.send(room_id, redactor, spec, None).await {
                failed.insert(event.event_id.to_string(), error.to_string().into());
            }
        }
    }
    let failures = failed.len();
    let redact_id = tasks::record(
        &state,
        "redact_all_events",
        user_id.as_str(),
        Ok(json!({ "failed_redactions": failed })),
    );
    tracing::info!(%user_id, admin = %identity.user_id, failed = failures, "a user's events redacted");
    Ok(Json(json!({ "redact_id": redact_id })))
}

/// # `GET /_synapse/admin/v1/user/redact_status/{redactId}`
pub async fn redact_status(
    State(state): State<AppState>,
    request: Ruma<endpoints::redact_status::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let task = tasks::find(&state, "redact_all_events", &request.body.redact_id)
        .ok_or_else(|| Error::NotFound("redact id not found".into()))?;
    // Synapse's word for a finished redaction is `completed`.
    Ok(Json(json!({
        "status": if task.status == "complete" { "completed" } else { task.status },
        "failed_redactions": task.result.get("failed_redactions").cloned().unwrap_or_else(|| json!({})),
    })))
}
