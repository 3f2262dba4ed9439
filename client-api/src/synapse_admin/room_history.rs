//! `GET /_synapse/admin/v1/rooms/{roomId}/messages` and `…/context/{eventId}`: a room's
//! history as the client endpoints give it, for an administrator whether or not they are in
//! the room, without history visibility (Synapse's admin privilege).

use axum::{Json, extract::State};
use myelin_core::{
    Error,
    rooms::{Direction, PduEvent},
};
use ruma::api::client::filter::RoomEventFilter;
use serde_json::{Value as JsonValue, json};

use super::{endpoints, require_admin};
use crate::{
    ApiError, AppState, Ruma, filtering,
    room::{format_token, parse_token},
};

/// Synapse's page limits.
const DEFAULT_LIMIT: u64 = 10;
const MAX_LIMIT: u64 = 1000;

fn room_filter(raw: Option<&str>) -> Result<RoomEventFilter, ApiError> {
    match raw {
        None => Ok(RoomEventFilter::default()),
        Some(text) => serde_json::from_str(text).map_err(|error| {
            ApiError::bad_json(format!("filter is not a room event filter: {error}"))
        }),
    }
}

/// # `GET /_synapse/admin/v1/rooms/{roomId}/messages`
///
/// `from`/`to` tokens, `dir` (`f`, Synapse's default here, or `b`), `limit` and a `filter`, as
/// `/messages`.
pub async fn room_messages(
    State(state): State<AppState>,
    request: Ruma<endpoints::room_messages::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    require_admin(&state, identity)?;
    let body = &request.body;
    let rooms = &state.services.rooms;
    if rooms.room_info(&body.room_id)?.is_none() {
        return Err(Error::NotFound("Room not found".into()).into());
    }
    // Forward unless asked otherwise, as Synapse's admin endpoint pages by default.
    let direction = match body.dir.as_deref() {
        Some("b") => Direction::Backward,
        None | Some("f") => Direction::Forward,
        Some(_) => return Err(Error::InvalidParam("dir must be b or f".into()).into()),
    };
    let limit =
        usize::try_from(body.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)).unwrap_or(1000);
    let filter = room_filter(body.filter.as_deref())?;
    let filter = filtering::EventFilter::new(&filter)?;
    let keep = |_: u64, event: &PduEvent| filter.passes_event(event);
    let now = state.services.notifier.current();
    let to = body.to.as_deref().map(parse_token).transpose()?;
    let from = body.from.as_deref().map(parse_token).transpose()?;
    let (start, page) = match direction {
        Direction::Backward => {
            let from = from.unwrap_or(now).min(now);
            let page = rooms.timeline_where(
                &body.room_id,
                to.unwrap_or(0),
                from,
                direction,
                limit,
                keep,
            )?;
            (from, page)
        }
        Direction::Forward => {
            let from = from.unwrap_or(0);
            let up_to = to.unwrap_or(now).min(now);
            (
                from,
                rooms.timeline_where(&body.room_id, from, up_to, direction, limit, keep)?,
            )
        }
    };
    let chunk: Vec<JsonValue> = page
        .events
        .iter()
        .map(|(_, event)| super::admin_event(event))
        .collect();
    let mut response = json!({ "start": format_token(start), "chunk": chunk });
    if page.more
        && let Some((position, _)) = page.events.last()
    {
        let end = match direction {
            Direction::Backward => position.saturating_sub(1),
            Direction::Forward => *position,
        };
        response["end"] = format_token(end).into();
    }
    Ok(Json(response))
}

/// # `GET /_synapse/admin/v1/rooms/{roomId}/context/{eventId}`
///
/// `limit` (10 by default) split between the events before and after, and the room's
/// current state.
pub async fn room_context(
    State(state): State<AppState>,
    request: Ruma<endpoints::room_context::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    require_admin(&state, identity)?;
    let body = &request.body;
    let rooms = &state.services.rooms;
    let not_found = || ApiError::Core(Error::NotFound("Event not found".into()));
    let event = rooms.pdu(&body.event_id)?.ok_or_else(not_found)?;
    if event.room() != body.room_id {
        return Err(not_found());
    }
    let position = rooms
        .event_position(&body.event_id)?
        .ok_or_else(not_found)?;
    let limit = usize::try_from(body.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT)).unwrap_or(10);
    let before = limit / 2;
    let after = limit - before;
    let filter = room_filter(body.filter.as_deref())?;
    let filter = filtering::EventFilter::new(&filter)?;
    let keep = |_: u64, event: &PduEvent| filter.passes_event(event);
    let now = state.services.notifier.current();
    let earlier = rooms.timeline_where(
        &body.room_id,
        0,
        position.saturating_sub(1),
        Direction::Backward,
        before,
        keep,
    )?;
    let later = rooms.timeline_where(
        &body.room_id,
        position,
        now,
        Direction::Forward,
        after,
        keep,
    )?;
    let render = |events: &[(u64, PduEvent)]| -> Vec<JsonValue> {
        events
            .iter()
            .map(|(_, event)| super::admin_event(event))
            .collect()
    };
    let start = earlier
        .events
        .last()
        .map_or(position.saturating_sub(1), |(first, _)| {
            first.saturating_sub(1)
        });
    let end = later.events.last().map_or(position, |(last, _)| *last);
    let room_state: Vec<JsonValue> = rooms
        .current_state(&body.room_id)?
        .iter()
        .map(super::admin_event)
        .collect();
    Ok(Json(json!({
        "start": format_token(start),
        "end": format_token(end),
        "events_before": render(&earlier.events),
        "event": super::admin_event(&event),
        "events_after": render(&later.events),
        "state": room_state,
    })))
}

/// # `GET /_synapse/admin/v1/rooms/{roomId}/timestamp_to_event?ts=…&dir=f|b`
///
/// The event closest to `ts` in that direction, whoever may see it.
pub async fn timestamp_to_event(
    State(state): State<AppState>,
    uri: axum::http::Uri,
    request: Ruma<endpoints::room_timestamp_to_event::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let rooms = &state.services.rooms;
    let room_id = &request.body.room_id;
    if rooms.room_info(room_id)?.is_none() {
        return Err(Error::NotFound("Room not found".into()).into());
    }
    let ts: u64 = crate::extract::query_parameter(&uri, "ts")
        .ok_or_else(|| Error::MissingParam("ts is required".into()))?
        .parse()
        .map_err(|_| Error::InvalidParam("ts must be a timestamp".into()))?;
    let direction = match crate::extract::query_parameter(&uri, "dir").as_deref() {
        None | Some("f") => Direction::Forward,
        Some("b") => Direction::Backward,
        Some(_) => return Err(Error::InvalidParam("dir must be f or b".into()).into()),
    };
    let event = rooms
        .event_at_timestamp_any(room_id, ts, direction)?
        .ok_or_else(|| Error::NotFound(format!("Unable to find event from {ts} in {room_id}")))?;
    Ok(Json(json!({
        "event_id": event.event_id,
        "origin_server_ts": event.origin_server_ts,
    })))
}

/// # `GET /_synapse/admin/v1/fetch_event/{eventId}`
///
/// Any event this server has, as clients get events.
pub async fn fetch_event(
    State(state): State<AppState>,
    request: Ruma<endpoints::fetch_event::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    require_admin(&state, identity)?;
    let event = state
        .services
        .rooms
        .pdu(&request.body.event_id)?
        .ok_or_else(|| Error::NotFound("Event not found".into()))?;
    Ok(Json(json!({ "event": super::admin_event(&event) })))
}

/// # `GET /_synapse/admin/v1/rooms/{roomId}/hierarchy`
///
/// The space's hierarchy as `/hierarchy` walks it, with every room this server knows shown
/// whoever may join it (Synapse skips the visibility check for administrators).
pub async fn hierarchy(
    State(state): State<AppState>,
    request: Ruma<endpoints::room_hierarchy::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let body = &request.body;
    let walk = crate::room::get_hierarchy::Walk {
        limit: body.limit,
        max_depth: body.max_depth,
        from: body.from.as_deref(),
        suggested_only: false,
    };
    Ok(Json(
        crate::room::get_hierarchy::hierarchy(
            &state,
            &body.room_id,
            myelin_core::rooms::Viewer::Administrator,
            walk,
        )
        .await?,
    ))
}
