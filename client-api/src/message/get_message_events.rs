//! `GET /_matrix/client/v3/rooms/{roomId}/messages`

use std::collections::BTreeSet;

use axum::{Json, extract::State};
use myelin_core::rooms::Direction;
use ruma::{
    UserId,
    api::{Direction as ApiDirection, client::message::get_message_events::v3},
};
use serde_json::{Value as JsonValue, json};

use crate::{
    ApiError, AppState, Ruma, filtering,
    room::{client_event, format_token, parse_token},
};

/// Synapse caps a page at 1000 events.
const MAX_LIMIT: usize = 1000;

/// # `GET /_matrix/client/v3/rooms/{roomId}/messages`
///
/// A token `sN` stands between stream positions N and N+1. Backwards pagination from `sN`
/// returns events at or before N, newest first; forwards returns events after N.
pub async fn get_message_events(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let rooms = &state.services.rooms;
    let body = &request.body;
    let readable_until = rooms.readable_until(&body.room_id, &identity.user_id)?;
    let limit = usize::try_from(u64::from(body.limit))
        .unwrap_or(MAX_LIMIT)
        .clamp(1, MAX_LIMIT);
    let to = body.to.as_deref().map(parse_token).transpose()?;
    let ignored = filtering::ignored_users(&state, &identity.user_id);
    let filter = filtering::EventFilter::new(&body.filter)?;
    let membership = rooms.membership(&body.room_id, &identity.user_id)?;
    let keep = |position: u64, event: &myelin_core::rooms::PduEvent| {
        !filtering::hidden_by_ignore(&ignored, event)
            && filter.passes_event(event)
            && rooms
                .event_visible(&body.room_id, &identity.user_id, position, membership)
                .unwrap_or(false)
    };
    let page_for =
        |from: Option<u64>| -> Result<(u64, myelin_core::rooms::TimelinePage), ApiError> {
            Ok(match body.dir {
                ApiDirection::Backward => {
                    let from = from.unwrap_or(readable_until).min(readable_until);
                    (
                        from,
                        rooms.timeline_where(
                            &body.room_id,
                            to.unwrap_or(0),
                            from,
                            Direction::Backward,
                            limit,
                            keep,
                        )?,
                    )
                }
                ApiDirection::Forward => {
                    let from = from.unwrap_or(0);
                    let up_to = to.unwrap_or(readable_until).min(readable_until);
                    (
                        from,
                        rooms.timeline_where(
                            &body.room_id,
                            from,
                            up_to,
                            Direction::Forward,
                            limit,
                            keep,
                        )?,
                    )
                }
            })
        };
    let from = body.from.as_deref().map(parse_token).transpose()?;
    let (mut start, mut page) = page_for(from)?;
    // Paging back past the start of what this server has of a room joined over federation:
    // fetch the earlier history from a server in the room, then read again.
    // A batch is at most 100 events, so a large page may take a few [Complement
    // TestMessagesOverFederation: 300 messages, pages of 200].
    const BACKFILL_ROUNDS: usize = 5;
    let mut history_elsewhere = false;
    if body.dir == ApiDirection::Backward
        && to.is_none()
        && let Ok(federation) = state.services.federation.get()
    {
        let mut rounds = 0;
        while !page.more && rooms.backfill_point(&body.room_id)?.is_some() {
            if rounds == BACKFILL_ROUNDS {
                history_elsewhere = true;
                break;
            }
            rounds += 1;
            match federation.backfill(&body.room_id).await {
                Ok(added) if added > 0 => (start, page) = page_for(from)?,
                Ok(_) => break,
                Err(error) => {
                    tracing::info!(%error, room_id = %body.room_id, "backfill failed");
                    break;
                }
            }
        }
    }
    let shown: Vec<&myelin_core::rooms::PduEvent> =
        page.events.iter().map(|(_, event)| event).collect();
    let chunk: Vec<JsonValue> = shown
        .iter()
        .map(|event| client_event(&state, event, identity, true))
        .collect();
    let mut response = json!({ "start": format_token(start), "chunk": chunk });
    if filter.lazy_loading()
        && let Some(first) = shown.first()
    {
        // As Synapse: the member event of each distinct sender of the page (one per sender,
        // however many events they sent), from the state at the page's first event; the
        // reader's own membership only when they sent something on the page; no `state` key
        // for an empty page [Complement TestRoomMessagesLazyLoading*].
        let senders: BTreeSet<&UserId> = shown.iter().map(|event| &*event.sender).collect();
        let members = match rooms.state_after_event(&first.event_id)? {
            Some(map) => {
                let mut members = Vec::with_capacity(senders.len());
                for sender in &senders {
                    if let Some(event_id) =
                        map.get(&("m.room.member".to_owned(), sender.to_string()))
                        && let Some(event) = rooms.pdu(event_id)?
                    {
                        members.push(event);
                    }
                }
                members
            }
            None => rooms
                .member_events(&body.room_id)?
                .into_iter()
                .filter(|event| {
                    event
                        .state_key
                        .as_deref()
                        .is_some_and(|key| senders.iter().any(|sender| sender.as_str() == key))
                })
                .collect(),
        };
        response["state"] = members
            .iter()
            .map(|event| client_event(&state, event, identity, true))
            .collect::<Vec<_>>()
            .into();
    }
    // More may follow: here, or (after the rounds this request allowed) on another server.
    if (page.more || history_elsewhere)
        && let Some((position, _)) = page.events.last()
    {
        let end = match body.dir {
            ApiDirection::Backward => position.saturating_sub(1),
            ApiDirection::Forward => *position,
        };
        response["end"] = format_token(end).into();
    }
    Ok(Json(response))
}
