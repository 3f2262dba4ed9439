//! Reports to the server's administrators: an event, a room, a user.

use axum::{Json, extract::State};
use myelin_core::{rooms::ReportTarget, users::Identity};
use ruma::api::client::{
    reporting::report_user,
    room::{report_content, report_room},
};
use serde_json::{Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma};

/// Files the report; every report endpoint answers `{}`.
async fn file(
    state: &AppState,
    identity: &Identity,
    target: ReportTarget,
    reason: Option<String>,
) -> Result<Json<JsonValue>, ApiError> {
    state
        .services
        .rooms
        .report(&identity.user_id, target, reason)
        .await?;
    Ok(Json(json!({})))
}

/// # `POST /_matrix/client/v3/rooms/{roomId}/report/{eventId}`
///
/// Events the reporter cannot see are `M_NOT_FOUND`, like events that do not exist.
pub async fn report_event(
    State(state): State<AppState>,
    request: Ruma<report_content::v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let body = &request.body;
    let target = ReportTarget::Event {
        room_id: body.room_id.clone(),
        event_id: body.event_id.clone(),
    };
    file(&state, request.identity()?, target, body.reason.clone()).await
}

/// # `POST /_matrix/client/v3/rooms/{roomId}/report`
pub async fn report_room(
    State(state): State<AppState>,
    request: Ruma<report_room::v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let body = &request.body;
    let target = ReportTarget::Room {
        room_id: body.room_id.clone(),
    };
    file(
        &state,
        request.identity()?,
        target,
        Some(body.reason.clone()),
    )
    .await
}

/// # `POST /_matrix/client/v3/users/{userId}/report`
///
/// Reports of unknown users are accepted too, so reports do not reveal who exists (the spec
/// allows this).
pub async fn report_user(
    State(state): State<AppState>,
    request: Ruma<report_user::v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let body = &request.body;
    let target = ReportTarget::User {
        user_id: body.user_id.clone(),
    };
    file(
        &state,
        request.identity()?,
        target,
        Some(body.reason.clone()),
    )
    .await
}
