//! `POST /_matrix/client/v3/search`: room events of the caller's rooms, newest first.

use std::collections::BTreeMap;

use axum::{Json, extract::State};
use myelin_core::{
    Error,
    rooms::{PduEvent, SearchKey, SearchRequest},
};
use ruma::api::client::search::search_events::v3::{self, SearchKeys};
use serde_json::{Map, Value as JsonValue, json};

use crate::{
    ApiError, AppState, Ruma, filtering,
    room::{client_event, format_token, parse_token},
};

const DEFAULT_LIMIT: usize = 10;
const MAX_LIMIT: usize = 100;

/// # `POST /_matrix/client/v3/search`
///
/// Only the `room_events` category exists. Results come newest first whatever `order_by`
/// asks (there is no relevance ranking; every `rank` is 1). With `event_context` each result
/// has its neighbours (and their senders' profiles); `include_state` adds the rooms' state.
pub async fn search_events(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let Some(criteria) = &request.body.search_categories.room_events else {
        return Ok(Json(json!({ "search_categories": {} })));
    };
    let rooms = &state.services.rooms;
    let filter = &criteria.filter;
    let limit = filter
        .limit
        .map_or(DEFAULT_LIMIT, |limit| {
            usize::try_from(u64::from(limit)).unwrap_or(MAX_LIMIT)
        })
        .min(MAX_LIMIT);
    let keys: Vec<SearchKey> = match &criteria.keys {
        None => vec![SearchKey::Body, SearchKey::Name, SearchKey::Topic],
        Some(keys) => keys
            .iter()
            .map(|key| match key {
                SearchKeys::ContentBody => Ok(SearchKey::Body),
                SearchKeys::ContentName => Ok(SearchKey::Name),
                SearchKeys::ContentTopic => Ok(SearchKey::Topic),
                other => Err(Error::InvalidParam(format!("Unknown search key {other}"))),
            })
            .collect::<Result<_, _>>()?,
    };
    // A room named in the filter brings its predecessors (upgrades) along, as Synapse searches
    // them [Complement TestSearch].
    let wanted_rooms = filter.rooms.as_ref().map(|listed| {
        let mut with_predecessors = listed.clone();
        let mut index = 0;
        while index < with_predecessors.len() && with_predecessors.len() < 100 {
            if let Ok(Some(predecessor)) = rooms.predecessor(&with_predecessors[index])
                && !with_predecessors.contains(&predecessor)
            {
                with_predecessors.push(predecessor);
            }
            index += 1;
        }
        with_predecessors
    });
    let joined: Vec<_> = rooms
        .joined_rooms(&identity.user_id)?
        .into_iter()
        .filter(|room_id| filtering::room_passes(wanted_rooms.as_ref(), &filter.not_rooms, room_id))
        .collect();
    let before = request
        .body
        .next_batch
        .as_deref()
        .map(parse_token)
        .transpose()?;
    let ignored = filtering::ignored_users(&state, &identity.user_id);
    let event_filter = filtering::EventFilter::new(filter)?;
    let keep = |event: &PduEvent| {
        event_filter.passes_event(event) && !filtering::hidden_by_ignore(&ignored, event)
    };
    let page = rooms.search_events(&SearchRequest {
        user_id: &identity.user_id,
        term: &criteria.search_term,
        keys: &keys,
        rooms: joined,
        before,
        limit,
        keep: &keep,
    })?;

    // `event_context` is a default-filled struct in ruma: whether the client asked is in the JSON.
    let with_context = request
        .json
        .as_ref()
        .is_some_and(|json| json["search_categories"]["room_events"]["event_context"].is_object());
    let context = &criteria.event_context;
    let mut results = Vec::with_capacity(page.results.len());
    for (_, event) in &page.results {
        let mut result = json!({
            "rank": 1.0,
            "result": client_event(&state, event, identity, true),
        });
        if with_context {
            result["context"] = event_context(
                &state,
                identity,
                event,
                usize::try_from(u64::from(context.before_limit))
                    .unwrap_or(MAX_LIMIT)
                    .min(MAX_LIMIT),
                usize::try_from(u64::from(context.after_limit))
                    .unwrap_or(MAX_LIMIT)
                    .min(MAX_LIMIT),
                context.include_profile,
            )?;
        }
        results.push(result);
    }
    let mut room_events = json!({
        "count": page.count,
        "results": results,
        "highlights": crate::search::highlights(&criteria.search_term),
    });
    if let Some(next) = page.next {
        room_events["next_batch"] = format_token(next).into();
    }
    if criteria.include_state == Some(true) {
        let mut states = Map::new();
        let result_rooms: BTreeMap<String, ()> = page
            .results
            .iter()
            .map(|(_, event)| (event.room().to_string(), ()))
            .collect();
        for room_id in result_rooms.keys() {
            let Ok(room_id) = ruma::RoomId::parse(room_id) else {
                continue;
            };
            let events: Vec<JsonValue> = rooms
                .current_state(&room_id)?
                .iter()
                .map(|event| client_event(&state, event, identity, true))
                .collect();
            states.insert(room_id.to_string(), events.into());
        }
        room_events["state"] = JsonValue::Object(states);
    }
    Ok(Json(
        json!({ "search_categories": { "room_events": room_events } }),
    ))
}

/// The words clients should highlight: the search's own words.
fn highlights(term: &str) -> Vec<String> {
    term.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A result's neighbours, as `/context` gives them.
fn event_context(
    state: &AppState,
    identity: &myelin_core::users::Identity,
    event: &PduEvent,
    before: usize,
    after: usize,
    include_profile: bool,
) -> Result<JsonValue, ApiError> {
    let rooms = &state.services.rooms;
    let room_id = event.room();
    let readable = rooms.readable_until(&room_id, &identity.user_id)?;
    let Some((position, earlier, later)) = rooms.context(
        &room_id,
        &identity.user_id,
        &event.event_id,
        readable,
        before,
        after,
        &|_| true,
    )?
    else {
        return Ok(json!({}));
    };
    let render = |events: &[(u64, PduEvent)]| -> Vec<JsonValue> {
        events
            .iter()
            .map(|(_, event)| client_event(state, event, identity, true))
            .collect()
    };
    let start = earlier
        .events
        .last()
        .map_or(position.saturating_sub(1), |(at, _)| at.saturating_sub(1));
    let end = later.events.last().map_or(position, |(at, _)| *at);
    let mut context = json!({
        "events_before": render(&earlier.events),
        "events_after": render(&later.events),
        "start": format_token(start),
        "end": format_token(end),
    });
    if include_profile {
        let mut profiles = Map::new();
        let senders = earlier
            .events
            .iter()
            .chain(later.events.iter())
            .map(|(_, event)| &event.sender)
            .chain(std::iter::once(&event.sender));
        for sender in senders {
            if profiles.contains_key(sender.as_str()) {
                continue;
            }
            let mut profile = json!({});
            if let Some(member) = rooms.state_pdu(&room_id, "m.room.member", sender.as_str())? {
                let content = member.content_json();
                for field in ["displayname", "avatar_url"] {
                    if let Some(value) = content[field].as_str() {
                        profile[field] = value.into();
                    }
                }
            }
            profiles.insert(sender.to_string(), profile);
        }
        context["profile_info"] = JsonValue::Object(profiles);
    }
    Ok(context)
}
