//! Reports, for administrators, in Synapse's shapes: `GET /_synapse/admin/v1/event_reports`,
//! `…/room_reports` and `…/user_reports` (spec 1.13 and 1.14 reports), each with `GET` and
//! `DELETE …/{reportId}`. The three share one numbering; an id is found only under its kind.

use axum::{Json, extract::State, http::Uri};
use myelin_core::{
    Error,
    rooms::{Report, ReportTarget},
};
use serde_json::{Value as JsonValue, json};

use super::{endpoints, require_admin};
use crate::{ApiError, AppState, Ruma, extract::query_parameter};

fn report_json(state: &AppState, id: u64, report: &Report) -> Option<JsonValue> {
    let ReportTarget::Event { room_id, event_id } = &report.target else {
        return None;
    };
    let rooms = &state.services.rooms;
    let overview = rooms.room_overview(room_id).ok();
    let sender = rooms
        .pdu(event_id)
        .ok()
        .flatten()
        .map(|event| event.sender.to_string());
    Some(json!({
        "id": id,
        "received_ts": report.received_ms,
        "room_id": room_id,
        "name": overview.as_ref().and_then(|room| room.name.clone()),
        "canonical_alias": overview.as_ref().and_then(|room| room.canonical_alias.clone()),
        "event_id": event_id,
        "user_id": report.reporter,
        "reason": report.reason,
        "score": JsonValue::Null,
        "sender": sender,
    }))
}

/// The reports `shape` gives JSON for, filtered by the query's `user_id` (the reporter),
/// `room_id` and `extra` filters, newest first unless `dir=f`, paged with `from`/`limit`, under
/// `key` with `total` and `next_token`.
fn listing(
    state: &AppState,
    uri: &Uri,
    key: &str,
    shape: impl Fn(u64, &Report) -> Option<JsonValue>,
    extra: &[(&str, &str)],
) -> Result<JsonValue, ApiError> {
    let from: usize = query_parameter(uri, "from")
        .and_then(|from| from.parse().ok())
        .unwrap_or(0);
    let limit: usize = query_parameter(uri, "limit")
        .and_then(|limit| limit.parse().ok())
        .unwrap_or(100);
    let mut filters = vec![
        ("user_id", query_parameter(uri, "user_id")),
        ("room_id", query_parameter(uri, "room_id")),
    ];
    for (parameter, field) in extra {
        filters.push((field, query_parameter(uri, parameter)));
    }
    let mut reports: Vec<JsonValue> = state
        .services
        .rooms
        .numbered_reports()?
        .iter()
        .filter_map(|(id, report)| shape(*id, report))
        .filter(|report| {
            filters.iter().all(|(field, wanted)| {
                wanted
                    .as_deref()
                    .is_none_or(|value| report[*field] == value)
            })
        })
        .collect();
    if query_parameter(uri, "dir").as_deref() != Some("f") {
        reports.reverse();
    }
    let total = reports.len();
    let page: Vec<JsonValue> = reports.into_iter().skip(from).take(limit).collect();
    let mut answer = json!({ key: page, "total": total });
    if from + limit < total {
        answer["next_token"] = (from + limit).into();
    }
    Ok(answer)
}

/// # `GET /_synapse/admin/v1/event_reports`
///
/// Newest first (`dir=f` for oldest first), paged with `from`/`limit`, filtered by `user_id`
/// (the reporter), `room_id` and `event_sender_user_id`.
pub async fn list(
    State(state): State<AppState>,
    uri: Uri,
    request: Ruma<endpoints::list_event_reports::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    Ok(Json(listing(
        &state,
        &uri,
        "event_reports",
        |id, report| report_json(&state, id, report),
        &[("event_sender_user_id", "sender")],
    )?))
}

fn room_report_json(state: &AppState, id: u64, report: &Report) -> Option<JsonValue> {
    let ReportTarget::Room { room_id } = &report.target else {
        return None;
    };
    let overview = state.services.rooms.room_overview(room_id).ok();
    Some(json!({
        "id": id,
        "received_ts": report.received_ms,
        "room_id": room_id,
        "name": overview.as_ref().and_then(|room| room.name.clone()),
        "canonical_alias": overview.as_ref().and_then(|room| room.canonical_alias.clone()),
        "user_id": report.reporter,
        "reason": report.reason,
    }))
}

fn user_report_json(id: u64, report: &Report) -> Option<JsonValue> {
    let ReportTarget::User { user_id } = &report.target else {
        return None;
    };
    Some(json!({
        "id": id,
        "received_ts": report.received_ms,
        "target_user_id": user_id,
        "user_id": report.reporter,
        "reason": report.reason,
    }))
}

/// # `GET /_synapse/admin/v1/room_reports`
///
/// Reports of rooms (spec 1.13), as the event reports are listed.
pub async fn list_rooms(
    State(state): State<AppState>,
    uri: Uri,
    request: Ruma<endpoints::list_room_reports::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let shape = |id: u64, report: &Report| room_report_json(&state, id, report);
    Ok(Json(listing(&state, &uri, "room_reports", shape, &[])?))
}

/// # `GET /_synapse/admin/v1/user_reports`
///
/// Reports of users (spec 1.14), filtered by `user_id` (the reporter) and `target_user_id`.
pub async fn list_users(
    State(state): State<AppState>,
    uri: Uri,
    request: Ruma<endpoints::list_user_reports::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    Ok(Json(listing(
        &state,
        &uri,
        "user_reports",
        user_report_json,
        &[("target_user_id", "target_user_id")],
    )?))
}

/// The three kinds of report, each listed and found on its own.
#[derive(Clone, Copy)]
enum Kind {
    Event,
    Room,
    User,
}

impl Kind {
    /// The report in this kind's shape, or `None` for a report of another kind.
    fn shape(self, state: &AppState, id: u64, report: &Report) -> Option<JsonValue> {
        match self {
            Kind::Event => report_json(state, id, report),
            Kind::Room => room_report_json(state, id, report),
            Kind::User => user_report_json(id, report),
        }
    }

    fn not_found(self) -> ApiError {
        let what = match self {
            Kind::Event => "Event report",
            Kind::Room => "Room report",
            Kind::User => "User report",
        };
        Error::NotFound(format!("{what} not found")).into()
    }
}

/// The report numbered `raw` if it is of `kind`, with its JSON, or `404`.
fn one(state: &AppState, raw: &str, kind: Kind) -> Result<(u64, Report, JsonValue), ApiError> {
    let id = report_id(raw)?;
    let (_, report) = state
        .services
        .rooms
        .numbered_reports()?
        .into_iter()
        .find(|(report_id, _)| *report_id == id)
        .ok_or_else(|| kind.not_found())?;
    let details = kind
        .shape(state, id, &report)
        .ok_or_else(|| kind.not_found())?;
    Ok((id, report, details))
}

/// Deletes the report numbered `raw` if it is of `kind`.
async fn dismiss(state: &AppState, raw: &str, kind: Kind) -> Result<Json<JsonValue>, ApiError> {
    let (id, _, _) = one(state, raw, kind)?;
    state.services.rooms.delete_report(id).await?;
    Ok(Json(json!({})))
}

/// # `GET /_synapse/admin/v1/room_reports/{reportId}`
pub async fn get_room(
    State(state): State<AppState>,
    request: Ruma<endpoints::get_room_report::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    Ok(Json(one(&state, &request.body.report_id, Kind::Room)?.2))
}

/// # `DELETE /_synapse/admin/v1/room_reports/{reportId}`
pub async fn delete_room(
    State(state): State<AppState>,
    request: Ruma<endpoints::delete_room_report::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    dismiss(&state, &request.body.report_id, Kind::Room).await
}

/// # `GET /_synapse/admin/v1/user_reports/{reportId}`
pub async fn get_user(
    State(state): State<AppState>,
    request: Ruma<endpoints::get_user_report::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    Ok(Json(one(&state, &request.body.report_id, Kind::User)?.2))
}

/// # `DELETE /_synapse/admin/v1/user_reports/{reportId}`
pub async fn delete_user(
    State(state): State<AppState>,
    request: Ruma<endpoints::delete_user_report::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    dismiss(&state, &request.body.report_id, Kind::User).await
}

fn report_id(raw: &str) -> Result<u64, ApiError> {
    raw.parse()
        .map_err(|_| Error::InvalidParam("The report ID must be an integer".into()).into())
}

/// # `GET /_synapse/admin/v1/event_reports/{reportId}`
///
/// The list's fields plus the reported event (`event_json`).
pub async fn get(
    State(state): State<AppState>,
    request: Ruma<endpoints::get_event_report::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let (_, report, mut details) = one(&state, &request.body.report_id, Kind::Event)?;
    if let ReportTarget::Event { event_id, .. } = &report.target {
        details["event_json"] = state
            .services
            .rooms
            .pdu_json(event_id)?
            .unwrap_or(JsonValue::Null);
    }
    Ok(Json(details))
}

/// # `DELETE /_synapse/admin/v1/event_reports/{reportId}`
pub async fn delete(
    State(state): State<AppState>,
    request: Ruma<endpoints::delete_event_report::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    dismiss(&state, &request.body.report_id, Kind::Event).await
}
