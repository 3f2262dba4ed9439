//! Client filters (`RoomEventFilter`, `RoomFilter`) applied to events, lazy-loading of members,
//! and the ignored-users list. Shared by `/sync`, `/messages` and `/context`.

use std::collections::{BTreeSet, HashSet};

use myelin_core::{Error, rooms::PduEvent};
use ruma::{
    OwnedUserId, RoomId, UserId,
    api::client::filter::{FilterDefinition, LazyLoadOptions, RoomEventFilter, UrlFilter},
};
use serde_json::Value as JsonValue;

use crate::{ApiError, AppState};

/// Type patterns of one filter list (`types` or `not_types`), compiled once per request into one
/// automaton. `*` matches any run of characters (`m.room.*`); checking an event then costs time
/// linear in its type whatever the patterns are. The recursive matcher this replaces took
/// exponential time on `a*a*…*b`, so one crafted filter could pin a core.
pub(crate) struct TypePatterns {
    /// `None` for an empty list, which matches nothing.
    automaton: Option<regex::bytes::Regex>,
}

/// How big the compiled patterns of one list may get. A list of a thousand ordinary patterns
/// needs a few hundred KiB; a filter past this is refused rather than made expensive.
const PATTERN_AUTOMATON_BYTES: usize = 4 << 20;

impl TypePatterns {
    pub(crate) fn new(patterns: &[String]) -> Result<Self, ApiError> {
        if patterns.is_empty() {
            return Ok(Self { automaton: None });
        }
        let mut expression = String::from("^(?:");
        for (index, pattern) in patterns.iter().enumerate() {
            if index > 0 {
                expression.push('|');
            }
            let literals: Vec<String> = pattern.split('*').map(regex::escape).collect();
            expression.push_str(&literals.join(".*"));
        }
        expression.push_str(")$");
        // Over bytes, without Unicode classes: `.` is any byte, which keeps the automaton small.
        let automaton = regex::bytes::RegexBuilder::new(&expression)
            .dot_matches_new_line(true)
            .unicode(false)
            .size_limit(PATTERN_AUTOMATON_BYTES)
            .dfa_size_limit(PATTERN_AUTOMATON_BYTES)
            .build()
            .map_err(|_| {
                Error::InvalidParam("The filter's event type patterns are too complex".into())
            })?;
        Ok(Self {
            automaton: Some(automaton),
        })
    }

    pub(crate) fn matches(&self, kind: &str) -> bool {
        self.automaton
            .as_ref()
            .is_some_and(|automaton| automaton.is_match(kind.as_bytes()))
    }
}

/// The type and sender parts of a filter (`types`/`not_types`, `senders`/`not_senders`),
/// prepared once so each event is checked in time independent of the lists' lengths.
pub(crate) struct TypeSenderFilter<'a> {
    types: Option<TypePatterns>,
    not_types: TypePatterns,
    senders: Option<HashSet<&'a UserId>>,
    not_senders: HashSet<&'a UserId>,
}

impl<'a> TypeSenderFilter<'a> {
    pub(crate) fn new(
        types: Option<&[String]>,
        not_types: &[String],
        senders: Option<&'a [OwnedUserId]>,
        not_senders: &'a [OwnedUserId],
    ) -> Result<Self, ApiError> {
        Ok(Self {
            types: types.map(TypePatterns::new).transpose()?,
            not_types: TypePatterns::new(not_types)?,
            senders: senders.map(|senders| senders.iter().map(|user| &**user).collect()),
            not_senders: not_senders.iter().map(|user| &**user).collect(),
        })
    }

    pub(crate) fn type_passes(&self, kind: &str) -> bool {
        !self.not_types.matches(kind) && self.types.as_ref().is_none_or(|types| types.matches(kind))
    }

    pub(crate) fn sender_passes(&self, sender: &UserId) -> bool {
        !self.not_senders.contains(sender)
            && self
                .senders
                .as_ref()
                .is_none_or(|senders| senders.contains(sender))
    }
}

/// A `RoomEventFilter` prepared for checking many events.
pub(crate) struct EventFilter<'a> {
    raw: &'a RoomEventFilter,
    types_and_senders: TypeSenderFilter<'a>,
}

impl<'a> EventFilter<'a> {
    pub(crate) fn new(raw: &'a RoomEventFilter) -> Result<Self, ApiError> {
        Ok(Self {
            raw,
            types_and_senders: TypeSenderFilter::new(
                raw.types.as_deref(),
                &raw.not_types,
                raw.senders.as_deref(),
                &raw.not_senders,
            )?,
        })
    }

    /// Whether an event of `kind` from `sender` passes the type, sender and URL parts.
    pub(crate) fn passes(&self, kind: &str, sender: &UserId, content: Option<&JsonValue>) -> bool {
        if !self.types_and_senders.type_passes(kind)
            || !self.types_and_senders.sender_passes(sender)
        {
            return false;
        }
        match (&self.raw.url_filter, content) {
            (Some(UrlFilter::EventsWithUrl), Some(content)) => content.get("url").is_some(),
            (Some(UrlFilter::EventsWithoutUrl), Some(content)) => content.get("url").is_none(),
            _ => true,
        }
    }

    pub(crate) fn passes_event(&self, event: &PduEvent) -> bool {
        let content = self.raw.url_filter.is_some().then(|| event.content_json());
        self.passes(&event.kind.to_string(), &event.sender, content.as_ref())
    }

    pub(crate) fn lazy_loading(&self) -> bool {
        lazy_loading(self.raw)
    }

    /// Whether lazy-loading asked for members the client already has
    /// (`include_redundant_members`).
    pub(crate) fn redundant_members(&self) -> bool {
        matches!(
            self.raw.lazy_load_options,
            LazyLoadOptions::Enabled {
                include_redundant_members: true
            }
        )
    }

    /// Whether the filter can leave any event out (by type, sender or URL).
    pub(crate) fn may_drop_events(&self) -> bool {
        let raw = self.raw;
        raw.types.is_some()
            || !raw.not_types.is_empty()
            || raw.senders.is_some()
            || !raw.not_senders.is_empty()
            || raw.url_filter.is_some()
    }
}

/// Refuses a filter whose patterns cannot be prepared, when it is uploaded or given inline.
pub(crate) fn check_definition(filter: &FilterDefinition) -> Result<(), ApiError> {
    let room = &filter.room;
    for part in [
        &room.timeline,
        &room.state,
        &room.ephemeral,
        &room.account_data,
    ] {
        EventFilter::new(part)?;
    }
    for part in [&filter.account_data, &filter.presence] {
        TypeSenderFilter::new(
            part.types.as_deref(),
            &part.not_types,
            part.senders.as_deref(),
            &part.not_senders,
        )?;
    }
    Ok(())
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

    fn matches(pattern: &str, kind: &str) -> bool {
        TypePatterns::new(&[pattern.to_owned()])
            .expect("pattern compiles")
            .matches(kind)
    }

    #[test]
    fn type_patterns_support_wildcards() {
        let cases = [
            ("m.room.*", "m.room.message", true),
            ("*", "anything", true),
            ("*", "", true),
            ("m.*.message", "m.room.message", true),
            ("m.room.*", "m.reaction", false),
            ("m.reaction", "m.reaction", true),
            ("m.reaction", "m.reactions", false),
            ("m.reaction", "xm.reaction", false),
            ("m.room.*", "m.room.", true),
            ("a**b", "ab", true),
            ("a.b", "axb", false),
            ("m.(room)+", "m.(room)+", true),
            ("[*]", "[anything\n]", true),
            ("", "", true),
            ("", "m.room.message", false),
            ("m.é*", "m.été", true),
            ("*ü", "m.ü", true),
            ("m.?", "m.x", false),
        ];
        for (pattern, kind, expected) in cases {
            assert_eq!(matches(pattern, kind), expected, "{pattern} against {kind}");
        }
    }

    #[test]
    fn empty_type_list_matches_nothing() {
        assert!(
            !TypePatterns::new(&[])
                .expect("empty")
                .matches("m.room.message")
        );
    }

    /// A filter of `a*a*…*b` (30 stars) against a type of 60 `a`s took exponential time with
    /// the recursive matcher; now it is one linear pass.
    #[test]
    fn pathological_pattern_is_answered_in_linear_time() {
        let pattern = format!("{}b", "a*".repeat(30));
        let kind = "a".repeat(60);
        let patterns = TypePatterns::new(&[pattern.clone(), "m.*".into()]).expect("compiles");
        let started = std::time::Instant::now();
        for _ in 0..1000 {
            assert!(!patterns.matches(&kind));
        }
        assert!(patterns.matches(&format!("{kind}b")));
        // Generous: 1000 checks take well under a millisecond here; the old matcher never ended.
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn oversized_pattern_lists_are_refused_not_compiled_forever() {
        let huge: Vec<String> = (0..20_000).map(|index| format!("x{index}*y*z*w")).collect();
        assert!(TypePatterns::new(&huge).is_err());
    }
}
