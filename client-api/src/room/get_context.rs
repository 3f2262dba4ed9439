//! `GET /_matrix/client/v3/rooms/{roomId}/context/{eventId}`

use axum::{Json, extract::State};
use myelin_core::Error;
use ruma::api::client::context::get_context::v3;
use serde_json::{Value as JsonValue, json};

use super::{client_event, format_token};
use crate::{ApiError, AppState, Ruma};

/// # `GET /_matrix/client/v3/rooms/{roomId}/context/{eventId}`
///
/// `limit` is split between the events before and after, as Synapse splits it.
pub async fn get_context(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let rooms = &state.services.rooms;
    let body = &request.body;
    let readable_until = rooms.readable_until(&body.room_id, &identity.user_id)?;
    let limit = usize::try_from(u64::from(body.limit))
        .unwrap_or(100)
        .min(100);
    let before = limit / 2;
    let after = limit - before;
    // The filter applies to the events around, not to the event asked for (spec), and comes
    // before the limit.
    let filter = crate::filtering::EventFilter::new(&body.filter)?;
    let ignored = crate::filtering::ignored_users(&state, &identity.user_id);
    let keep = |event: &myelin_core::rooms::PduEvent| {
        filter.passes_event(event) && !crate::filtering::hidden_by_ignore(&ignored, event)
    };
    let (position, earlier, later) = rooms
        .context(
            &body.room_id,
            &identity.user_id,
            &body.event_id,
            readable_until,
            before,
            after,
            &keep,
        )?
        .ok_or_else(|| Error::NotFound("Event not found".into()))?;
    let event = rooms
        .pdu(&body.event_id)?
        .ok_or_else(|| Error::NotFound("Event not found".into()))?;
    let start = earlier
        .events
        .last()
        .map_or(position.saturating_sub(1), |(first, _)| {
            first.saturating_sub(1)
        });
    let end = later.events.last().map_or(position, |(last, _)| *last);
    let render = |events: &[(u64, myelin_core::rooms::PduEvent)]| -> Vec<JsonValue> {
        events
            .iter()
            .map(|(_, event)| client_event(&state, event, identity, true))
            .collect()
    };
    let room_state: Vec<JsonValue> = if rooms.is_joined(&body.room_id, &identity.user_id)? {
        rooms
            .current_state(&body.room_id)?
            .iter()
            .map(|event| client_event(&state, event, identity, true))
            .collect()
    } else {
        Vec::new()
    };
    Ok(Json(json!({
        "start": format_token(start),
        "end": format_token(end),
        "events_before": render(&earlier.events),
        "event": client_event(&state, &event, identity, true),
        "events_after": render(&later.events),
        "state": room_state,
    })))
}
