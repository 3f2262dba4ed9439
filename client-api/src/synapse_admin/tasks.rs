//! The administrator's long tasks (room shutdowns, history purges, user redactions) and
//! `GET /_synapse/admin/v1/scheduled_tasks`, which lists them as Synapse's task scheduler
//! does. Myelin runs each task before answering, so a task is listed once it is over; the
//! list lives in memory, until the next restart.

use axum::{Json, extract::State, http::Uri};
use myelin_core::lock;
use serde_json::{Value as JsonValue, json};

use super::{endpoints, require_admin};
use crate::{ApiError, AppState, Ruma, admin_tasks::Task, extract::query_parameter};

/// Keeps a finished task and answers its new id.
pub(crate) fn record(
    state: &AppState,
    action: &'static str,
    resource_id: &str,
    outcome: Result<JsonValue, String>,
) -> String {
    let id = myelin_core::ids::random_string(16);
    let (status, result, error) = match outcome {
        Ok(result) => ("complete", result, None),
        Err(error) => ("failed", JsonValue::Null, Some(error)),
    };
    lock(&state.admin_tasks).push(Task {
        id: id.clone(),
        action,
        resource_id: resource_id.to_owned(),
        timestamp_ms: myelin_core::clock::now_ms(),
        status,
        result,
        error,
    });
    id
}

/// The task with this id and action.
pub(crate) fn find(state: &AppState, action: &str, id: &str) -> Option<Task> {
    lock(&state.admin_tasks)
        .iter()
        .find(|task| task.id == id && task.action == action)
        .cloned()
}

/// # `GET /_synapse/admin/v1/scheduled_tasks`
///
/// Filtered by `action_name`, `resource_id`, `job_status` and `max_timestamp`, newest first.
pub async fn list(
    State(state): State<AppState>,
    uri: Uri,
    request: Ruma<endpoints::scheduled_tasks::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let action = query_parameter(&uri, "action_name");
    let resource = query_parameter(&uri, "resource_id");
    let status = query_parameter(&uri, "job_status");
    let before: Option<u64> = query_parameter(&uri, "max_timestamp").and_then(|ts| ts.parse().ok());
    let tasks: Vec<JsonValue> = lock(&state.admin_tasks)
        .iter()
        .rev()
        .filter(|task| {
            action.as_deref().is_none_or(|wanted| task.action == wanted)
                && resource
                    .as_deref()
                    .is_none_or(|wanted| task.resource_id == wanted)
                && status.as_deref().is_none_or(|wanted| task.status == wanted)
                && before.is_none_or(|ts| task.timestamp_ms <= ts)
        })
        .map(Task::json)
        .collect();
    Ok(Json(json!({ "scheduled_tasks": tasks })))
}
