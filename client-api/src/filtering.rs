//! Client filters (`RoomEventFilter`, `RoomFilter`) applied to events, lazy-loading of members,
//! and the ignored-users list. Shared by `/sync`, `/messages` and `/context`.

use std::collections::BTreeSet;

use myelin_core::rooms::PduEvent;
use ruma::{
    OwnedUserId, RoomId, UserId,
    api::client::filter::{LazyLoadOptions, RoomEventFilter, UrlFilter},
};
use serde_json::Value as JsonValue;

use crate::AppState;

/// `*` matches any run of characters, as the spec's type filters allow (`m.room.*`).
pub(crate) fn type_matches(pattern: &str, kind: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == kind,
        Some((prefix, rest)) => {
            let Some(remainder) = kind.strip_prefix(prefix) else {
                return false;
            };
            if rest.is_empty() {
                return true;
            }
            (0..=remainder.len()).any(|start| {
                remainder.is_char_boundary(start) && type_matches(rest, &remainder[start..])
            })
        }
    }
}

/// Whether an event of `kind` from `sender` passes the type and sender parts of a filter.
pub(crate) fn passes(
    filter: &RoomEventFilter,
    kind: &str,
    sender: &UserId,
    content: Option<&JsonValue>,
) -> bool {
    if filter
        .not_types
        .iter()
        .any(|pattern| type_matches(pattern, kind))
    {
        return false;
    }
    if filter
        .types
        .as_ref()
        .is_some_and(|types| !types.iter().any(|pattern| type_matches(pattern, kind)))
    {
        return false;
    }
    if filter.not_senders.iter().any(|blocked| blocked == sender)
        || filter
            .senders
            .as_ref()
            .is_some_and(|senders| !senders.iter().any(|allowed| allowed == sender))
    {
        return false;
    }
    match (&filter.url_filter, content) {
        (Some(UrlFilter::EventsWithUrl), Some(content)) => content.get("url").is_some(),
        (Some(UrlFilter::EventsWithoutUrl), Some(content)) => content.get("url").is_none(),
        _ => true,
    }
}

pub(crate) fn passes_event(filter: &RoomEventFilter, event: &PduEvent) -> bool {
    let content = filter.url_filter.is_some().then(|| event.content_json());
    passes(
        filter,
        &event.kind.to_string(),
        &event.sender,
        content.as_ref(),
    )
}

/// Whether the room part of a filter admits `room_id`.
pub(crate) fn room_passes(
    rooms: Option<&Vec<ruma::OwnedRoomId>>,
    not_rooms: &[ruma::OwnedRoomId],
    room_id: &RoomId,
) -> bool {
    !not_rooms.iter().any(|blocked| blocked == room_id)
        && rooms.is_none_or(|rooms| rooms.iter().any(|allowed| allowed == room_id))
}

pub(crate) fn lazy_loading(filter: &RoomEventFilter) -> bool {
    matches!(filter.lazy_load_options, LazyLoadOptions::Enabled { .. })
}

/// With lazy-loading, state keeps every non-member event but only the members who sent
/// something in `timeline`, and the user themself.
pub(crate) fn lazy_load_state(
    state: Vec<PduEvent>,
    timeline: &[&PduEvent],
    user_id: &UserId,
) -> Vec<PduEvent> {
    let mut wanted: BTreeSet<&str> = timeline.iter().map(|event| event.sender.as_str()).collect();
    wanted.insert(user_id.as_str());
    state
        .into_iter()
        .filter(|event| {
            event.kind.to_string() != "m.room.member"
                || event
                    .state_key
                    .as_deref()
                    .is_some_and(|key| wanted.contains(key))
        })
        .collect()
}

/// The users in `m.ignored_user_list`.
pub(crate) fn ignored_users(state: &AppState, user_id: &UserId) -> BTreeSet<OwnedUserId> {
    state
        .services
        .users
        .account_data(user_id, None, "m.ignored_user_list")
        .ok()
        .flatten()
        .and_then(|content| {
            content
                .get("ignored_users")
                .and_then(JsonValue::as_object)
                .cloned()
        })
        .map(|users| {
            users
                .keys()
                .filter_map(|key| UserId::parse(key.as_str()).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Synapse hides the messages of ignored users but keeps their state events, so room state
/// stays consistent.
pub(crate) fn hidden_by_ignore(ignored: &BTreeSet<OwnedUserId>, event: &PduEvent) -> bool {
    !event.is_state() && ignored.contains(&event.sender)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_patterns_support_wildcards() {
        assert!(type_matches("m.room.*", "m.room.message"));
        assert!(type_matches("*", "anything"));
        assert!(type_matches("m.*.message", "m.room.message"));
        assert!(!type_matches("m.room.*", "m.reaction"));
        assert!(type_matches("m.reaction", "m.reaction"));
        assert!(!type_matches("m.reaction", "m.reactions"));
    }
}
