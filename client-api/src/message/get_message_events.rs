//! `GET /_matrix/client/v3/rooms/{roomId}/messages`

use std::collections::BTreeSet;

use axum::{
    Json,
    extract::{RawQuery, State},
};
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

/// The relation-type filters of MSC3874 (`org.matrix.msc3874.rel_types` and `…not_rel_types`
/// in the room event filter), which ruma's filter type does not carry: read from the raw
/// `filter` parameter. Thread-aware clients page a room's main timeline with
/// `not_rel_types: ["m.thread"]`.
#[derive(Default)]
struct RelationFilter {
    rel_types: Option<Vec<String>>,
    not_rel_types: Vec<String>,
}

impl RelationFilter {
    fn from_query(query: Option<&str>) -> Self {
        // The filter is JSON in a form-encoded parameter (`+` is a space there).
        let filter = query
            .into_iter()
            .flat_map(|query| query.split('&'))
            .find_map(|pair| pair.strip_prefix("filter="))
            .map(|raw| raw.replace('+', " "))
            .and_then(|raw| {
                percent_encoding::percent_decode_str(&raw)
                    .decode_utf8()
                    .ok()
                    .map(|decoded| decoded.into_owned())
            })
            .and_then(|raw| serde_json::from_str::<JsonValue>(&raw).ok());
        let Some(filter) = filter else {
            return Self::default();
        };
        let list = |key: &str| -> Option<Vec<String>> {
            filter.get(key)?.as_array().map(|items| {
                items
                    .iter()
                    .filter_map(|item| item.as_str().map(str::to_owned))
                    .collect()
            })
        };
        Self {
            rel_types: list("org.matrix.msc3874.rel_types"),
            not_rel_types: list("org.matrix.msc3874.not_rel_types").unwrap_or_default(),
        }
    }

    fn passes(&self, event: &myelin_core::rooms::PduEvent) -> bool {
        if self.rel_types.is_none() && self.not_rel_types.is_empty() {
            return true;
        }
        let content = event.content_json();
        let rel_type = content
            .get("m.relates_to")
            .and_then(|relates_to| relates_to.get("rel_type"))
            .and_then(JsonValue::as_str);
        if let Some(wanted) = &self.rel_types
            && !rel_type.is_some_and(|rel_type| wanted.iter().any(|kind| kind == rel_type))
        {
            return false;
        }
        !rel_type.is_some_and(|rel_type| self.not_rel_types.iter().any(|kind| kind == rel_type))
    }
}

/// # `GET /_matrix/client/v3/rooms/{roomId}/messages`
///
/// A token `sN` stands between stream positions N and N+1. Backwards pagination from `sN`
/// returns events at or before N, newest first; forwards returns events after N.
pub async fn get_message_events(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let rooms = &state.services.rooms;
    let body = &request.body;
    let relation_filter = RelationFilter::from_query(query.as_deref());
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
            && relation_filter.passes(event)
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
