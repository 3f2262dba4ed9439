//! Delayed events (MSC4140), the way Element Call and matrix-js-sdk use them:
//! `PUT /rooms/{roomId}/send/…` and `/state/…` with `?org.matrix.msc4140.delay=<ms>`, the newer
//! `PUT /unstable/org.matrix.msc4140/rooms/{roomId}/delayed_event/{type}/{txnId}`, and the
//! management endpoints under `/unstable/org.matrix.msc4140/delayed_events`.

use axum::{
    Json,
    extract::{Path, Request, State},
};
use myelin_core::{
    Error,
    rooms::{DelayedAction, DelayedEvent},
    users::Identity,
};
use ruma::OwnedRoomId;
use serde_json::{Value as JsonValue, json};

use crate::{ApiError, AppState, extract::authenticate_parts};

/// The delay (ms) a send or state request asks for with `org.matrix.msc4140.delay`.
pub(crate) fn requested_delay(query: Option<&str>) -> Result<Option<u64>, ApiError> {
    let Some(value) = query
        .into_iter()
        .flat_map(|query| query.split('&'))
        .find_map(|pair| pair.strip_prefix("org.matrix.msc4140.delay="))
    else {
        return Ok(None);
    };
    value.parse().map(Some).map_err(|_| {
        Error::InvalidParam("org.matrix.msc4140.delay must be a number of milliseconds".into())
            .into()
    })
}

/// Schedules the event a send or state request describes; the answer names the delay id.
pub(crate) async fn schedule(
    state: &AppState,
    identity: &Identity,
    room_id: &ruma::RoomId,
    event_type: &str,
    state_key: Option<String>,
    content: JsonValue,
    delay_ms: u64,
) -> Result<Json<JsonValue>, ApiError> {
    let delay_id = state
        .services
        .rooms
        .schedule_delayed_event(
            &identity.user_id,
            &identity.device_id,
            room_id,
            event_type,
            state_key,
            content,
            delay_ms,
        )
        .await?;
    Ok(Json(json!({ "delay_id": delay_id })))
}

fn shape(record: &DelayedEvent) -> JsonValue {
    let mut shaped = json!({
        "delay_id": record.delay_id,
        "room_id": record.room_id,
        "type": record.event_type,
        "content": record.content,
        "delay": record.delay_ms,
        "running_since": record.running_since,
    });
    if let Some(state_key) = &record.state_key {
        shaped["state_key"] = state_key.clone().into();
    }
    shaped
}

/// # `PUT /_matrix/client/unstable/org.matrix.msc4140/rooms/{roomId}/delayed_event/{type}/{txnId}`
///
/// The body is `{delay, content, state_key?}`.
pub async fn send_delayed_event(
    State(state): State<AppState>,
    Path((room_id, event_type, _txn_id)): Path<(String, String, String)>,
    request: Request,
) -> Result<Json<JsonValue>, ApiError> {
    let (parts, body) = request.into_parts();
    let identity = authenticate_parts(&parts, &state)?;
    let room_id = OwnedRoomId::try_from(room_id)
        .map_err(|error| Error::InvalidParam(format!("Bad room id: {error}")))?;
    let bytes = axum::body::to_bytes(body, 1 << 16)
        .await
        .map_err(|_| Error::TooLarge("The delayed event is too large".into()))?;
    let body: JsonValue = crate::extract::parse_json_body(&bytes)?;
    let delay = body
        .get("delay")
        .and_then(JsonValue::as_u64)
        .ok_or_else(|| Error::MissingParam("delay (ms) is required".into()))?;
    let content = body
        .get("content")
        .filter(|content| content.is_object())
        .cloned()
        .ok_or_else(|| Error::MissingParam("content (an object) is required".into()))?;
    let state_key = body
        .get("state_key")
        .and_then(JsonValue::as_str)
        .map(str::to_owned);
    schedule(
        &state,
        &identity,
        &room_id,
        &event_type,
        state_key,
        content,
        delay,
    )
    .await
}

/// # `GET /_matrix/client/unstable/org.matrix.msc4140/delayed_events`
pub async fn list(
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<JsonValue>, ApiError> {
    let (parts, _) = request.into_parts();
    let identity = authenticate_parts(&parts, &state)?;
    let events: Vec<JsonValue> = state
        .services
        .rooms
        .delayed_events(&identity.user_id)?
        .iter()
        .map(shape)
        .collect();
    Ok(Json(json!({ "delayed_events": events })))
}

/// # `GET /_matrix/client/unstable/org.matrix.msc4140/delayed_events/{delayId}`
pub async fn get(
    State(state): State<AppState>,
    Path(delay_id): Path<String>,
    request: Request,
) -> Result<Json<JsonValue>, ApiError> {
    let (parts, _) = request.into_parts();
    let identity = authenticate_parts(&parts, &state)?;
    let record = state
        .services
        .rooms
        .delayed_event(&identity.user_id, &delay_id)?;
    Ok(Json(shape(&record)))
}

/// # `POST /_matrix/client/unstable/org.matrix.msc4140/delayed_events/{delayId}`
///
/// The first form, `{"action": "cancel" | "restart" | "send"}` in the body (matrix-js-sdk).
pub async fn update_with_body(
    State(state): State<AppState>,
    Path(delay_id): Path<String>,
    request: Request,
) -> Result<Json<JsonValue>, ApiError> {
    let (parts, body) = request.into_parts();
    let identity = authenticate_parts(&parts, &state)?;
    let bytes = axum::body::to_bytes(body, 1 << 12)
        .await
        .map_err(|_| Error::TooLarge("The request is too large".into()))?;
    let body: JsonValue = crate::extract::parse_json_body(&bytes)?;
    let action = body
        .get("action")
        .and_then(JsonValue::as_str)
        .ok_or_else(|| Error::MissingParam("action is required".into()))?;
    update(&state, &identity, &delay_id, action).await
}

/// # `POST /_matrix/client/unstable/org.matrix.msc4140/delayed_events/{delayId}/{action}`
pub async fn update_with_path(
    State(state): State<AppState>,
    Path((delay_id, action)): Path<(String, String)>,
    request: Request,
) -> Result<Json<JsonValue>, ApiError> {
    let (parts, _) = request.into_parts();
    let identity = authenticate_parts(&parts, &state)?;
    update(&state, &identity, &delay_id, &action).await
}

async fn update(
    state: &AppState,
    identity: &Identity,
    delay_id: &str,
    action: &str,
) -> Result<Json<JsonValue>, ApiError> {
    let action = DelayedAction::parse(action).ok_or_else(|| {
        Error::InvalidParam(format!("Unknown action {action}: cancel, restart or send"))
    })?;
    state
        .services
        .rooms
        .update_delayed_event(&identity.user_id, delay_id, action)
        .await?;
    Ok(Json(json!({})))
}
