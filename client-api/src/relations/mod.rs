//! Relations and threads.
pub mod get_relating_events;
pub mod get_threads;
pub mod thread_subscriptions;

use axum::Json;
use myelin_core::{Error, rooms::Direction, users::Identity};
use ruma::{EventId, RoomId, UInt, api::Direction as ApiDirection};
use serde_json::{Value as JsonValue, json};

use crate::{
    ApiError, AppState,
    room::{client_event, format_token, parse_token},
};

/// What the three `/relations` endpoints share.
pub(crate) struct RelationsQuery<'a> {
    pub room_id: &'a RoomId,
    pub event_id: &'a EventId,
    pub rel_type: Option<String>,
    pub event_type: Option<String>,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub dir: &'a ApiDirection,
    pub limit: Option<UInt>,
}

pub(crate) fn relations_page(
    state: &AppState,
    identity: &Identity,
    query: RelationsQuery<'_>,
) -> Result<Json<JsonValue>, ApiError> {
    let rooms = &state.services.rooms;
    let readable_until = rooms.readable_until(query.room_id, &identity.user_id)?;
    let parent = rooms
        .pdu(query.event_id)?
        .filter(|event| event.room() == query.room_id)
        .ok_or_else(|| Error::NotFound("Event not found".into()))?;
    let limit = query
        .limit
        .map_or(50, |limit| {
            usize::try_from(u64::from(limit)).unwrap_or(1000)
        })
        .clamp(1, 1000);
    let from = query.from.map(parse_token).transpose()?;
    let to = query.to.map(parse_token).transpose()?;
    let (events, more) = match query.dir {
        ApiDirection::Forward => rooms.relations(
            &parent.event_id,
            query.rel_type.as_deref(),
            query.event_type.as_deref(),
            from.unwrap_or(0),
            to.unwrap_or(readable_until).min(readable_until),
            Direction::Forward,
            limit,
        )?,
        _ => rooms.relations(
            &parent.event_id,
            query.rel_type.as_deref(),
            query.event_type.as_deref(),
            to.unwrap_or(0),
            from.unwrap_or(readable_until).min(readable_until),
            Direction::Backward,
            limit,
        )?,
    };
    let membership = rooms.membership(query.room_id, &identity.user_id)?;
    let events: Vec<(u64, myelin_core::rooms::PduEvent)> = events
        .into_iter()
        .filter(|(position, _)| {
            rooms
                .event_visible(query.room_id, &identity.user_id, *position, membership)
                .unwrap_or(false)
        })
        .collect();
    let chunk: Vec<JsonValue> = events
        .iter()
        .map(|(_, event)| client_event(state, event, identity, true))
        .collect();
    let mut response = json!({ "chunk": chunk });
    if more && let Some((position, _)) = events.last() {
        let next = match query.dir {
            ApiDirection::Forward => *position,
            _ => position.saturating_sub(1),
        };
        response["next_batch"] = format_token(next).into();
    }
    if let Some(from) = query.from {
        response["prev_batch"] = from.into();
    }
    Ok(Json(response))
}
