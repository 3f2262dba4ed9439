//! One room of a sliding sync response: sent whole the first time a connection sees it (or
//! when its settings change), afterwards only what changed since the connection last got it.

use std::collections::BTreeSet;

use myelin_core::rooms::{ListedRoom, Membership, PduEvent};
use ruma::{OwnedUserId, UserId};
use serde_json::{Map, Value as JsonValue, json};

use super::{
    Context,
    connection::{RoomConfig, SentRoom},
};
use crate::{
    ApiError,
    room::{client_event, format_token},
};

/// What was decided for one room: its JSON (`None` when there is nothing new) and how it now
/// stands on the connection.
pub(super) struct RoomUpdate {
    pub json: Option<JsonValue>,
    pub sent: SentRoom,
    /// Sent whole in this response (so receipts and account data go whole too).
    pub fresh: bool,
}

/// Whether a `required_state` entry asks for the state event `(kind, key)`.
fn wanted(required: &BTreeSet<(String, String)>, user_id: &UserId, kind: &str, key: &str) -> bool {
    required.iter().any(|(want_kind, want_key)| {
        (want_kind == "*" || want_kind == kind)
            && (want_key == "*"
                || want_key == key
                || (want_key == "$ME" && key == user_id.as_str()))
    })
}

/// Whether members are loaded lazily: only the senders of the timeline's events.
fn lazy_members(required: &BTreeSet<(String, String)>) -> bool {
    required
        .iter()
        .any(|(kind, key)| kind == "m.room.member" && key == "$LAZY")
}

pub(super) fn room_update(
    context: &Context<'_>,
    room: &ListedRoom,
    config: &RoomConfig,
    previous: Option<&SentRoom>,
    bump_stamp: u64,
) -> Result<RoomUpdate, ApiError> {
    let rooms = &context.state.services.rooms;
    let user_id = &context.identity.user_id;
    let until = match room.membership {
        Membership::Join => context.now,
        _ => room.membership_position,
    };
    let sent = SentRoom {
        through: until,
        membership: room.membership,
        config: config.clone(),
    };
    if matches!(room.membership, Membership::Invite | Membership::Knock) {
        let unchanged = previous.is_some_and(|previous| previous.membership == room.membership);
        let json = if unchanged {
            None
        } else {
            Some(invite_room(context, room, bump_stamp)?)
        };
        return Ok(RoomUpdate {
            json,
            sent,
            fresh: !unchanged,
        });
    }
    // Sent whole when new to the connection, when the user's standing in it changed from
    // invited (or departed) to joined, or when the lists now ask for other details.
    let fresh = previous.is_none_or(|previous| {
        previous.config != *config
            || (room.membership == Membership::Join && previous.membership != Membership::Join)
    });
    let after = match previous {
        Some(previous) if !fresh => previous.through,
        _ => 0,
    };
    // The user's own read receipt (from another device) changes the room's unread counts.
    let read_elsewhere = context
        .changes
        .receipts
        .get(&room.room_id)
        .is_some_and(|receipts| receipts.iter().any(|receipt| receipt.user_id == *user_id));
    if !fresh && !read_elsewhere {
        // Nothing can be new unless the stream touched the room after the last response, or
        // the room was last sent before that response (it was out of every range meanwhile).
        let quiet = after >= until
            || (context.since.is_some_and(|since| after >= since)
                && !context.changes.rooms.contains(&room.room_id));
        if quiet {
            return Ok(RoomUpdate {
                json: None,
                sent,
                fresh,
            });
        }
    }
    let ignored = &context.ignored;
    let keep = |event: &PduEvent| !crate::filtering::hidden_by_ignore(ignored, event);
    let window = rooms.room_window(
        &room.room_id,
        user_id,
        room.membership,
        (after, until),
        config.timeline_limit,
        &keep,
    )?;
    // Only the state asked for is read: large rooms hold thousands of member events.
    let state_events = if fresh {
        requested_state(context, &room.room_id, &config.required_state)?
    } else if window.limited {
        // A gap: what changed in it is not in the timeline.
        rooms.state_changed_after(&room.room_id, after)?
    } else {
        // Every event since `after` is in the timeline: its state events still in force.
        let mut changed = Vec::new();
        for (_, event) in &window.timeline {
            if let Some((kind, key)) = event.state_key_pair()
                && rooms.state_event_id(&room.room_id, &kind, &key)?.as_deref()
                    == Some(&*event.event_id)
            {
                changed.push(event.clone());
            }
        }
        changed
    };
    // With `timeline_limit: 0` new events show only as `limited`: still news (bump, counts).
    if !fresh
        && !read_elsewhere
        && window.timeline.is_empty()
        && !window.limited
        && state_events.is_empty()
    {
        return Ok(RoomUpdate {
            json: None,
            sent,
            fresh,
        });
    }

    let mut json = Map::new();
    if fresh {
        json.insert("initial".into(), true.into());
    }
    let senders: BTreeSet<&OwnedUserId> = window
        .timeline
        .iter()
        .map(|(_, event)| &event.sender)
        .collect();
    let lazy = lazy_members(&config.required_state);
    let mut required_state: Vec<JsonValue> = Vec::new();
    let mut included = BTreeSet::new();
    for event in &state_events {
        let Some((kind, key)) = event.state_key_pair() else {
            continue;
        };
        let lazily_wanted = lazy
            && kind == "m.room.member"
            && UserId::parse(key.as_str()).is_ok_and(|member| senders.contains(&member));
        if wanted(&config.required_state, user_id, &kind, &key) || lazily_wanted {
            included.insert((kind, key));
            required_state.push(client_event(context.state, event, context.identity, false));
        }
    }
    if lazy {
        // Members of the timeline's senders not already included.
        for sender in senders {
            let pair = ("m.room.member".to_owned(), sender.to_string());
            if included.contains(&pair) {
                continue;
            }
            if let Some(member) =
                rooms.state_pdu(&room.room_id, "m.room.member", sender.as_str())?
            {
                required_state.push(client_event(
                    context.state,
                    &member,
                    context.identity,
                    false,
                ));
            }
        }
    }
    json.insert("required_state".into(), required_state.into());
    let timeline: Vec<JsonValue> = window
        .timeline
        .iter()
        .map(|(_, event)| client_event(context.state, event, context.identity, false))
        .collect();
    let num_live = match context.since {
        Some(since) => window
            .timeline
            .iter()
            .filter(|(position, _)| *position > since)
            .count(),
        None => 0,
    };
    json.insert("timeline".into(), timeline.into());
    json.insert("limited".into(), window.limited.into());
    json.insert("prev_batch".into(), format_token(window.prev_batch).into());
    json.insert("num_live".into(), num_live.into());
    json.insert("bump_stamp".into(), bump_stamp.into());
    if context.is_dm(room) {
        json.insert("is_dm".into(), true.into());
    }

    // The name and avatar when new or changed, the member counts and heroes when memberships
    // may have moved.
    let changed = |kind: &str| {
        state_events
            .iter()
            .any(|event| event.kind.to_string() == kind && event.state_key.as_deref() == Some(""))
    };
    let name = rooms
        .state_pdu(&room.room_id, "m.room.name", "")?
        .and_then(|event| event.content_json()["name"].as_str().map(str::to_owned))
        .filter(|name| !name.is_empty());
    if (fresh || changed("m.room.name"))
        && let Some(name) = &name
    {
        json.insert("name".into(), name.clone().into());
    }
    // A removed avatar is `null`, so the client drops the one it had.
    if (fresh || changed("m.room.avatar"))
        && let Some(avatar) = rooms.state_pdu(&room.room_id, "m.room.avatar", "")?
    {
        json.insert("avatar".into(), avatar.content_json()["url"].clone());
    }
    let members_moved = window.limited
        || state_events
            .iter()
            .any(|event| event.kind.to_string() == "m.room.member");
    if fresh || members_moved {
        let (joined, invited, heroes) = rooms.member_summary(&room.room_id, user_id)?;
        json.insert("joined_count".into(), joined.into());
        json.insert("invited_count".into(), invited.into());
        if name.is_none() {
            json.insert("heroes".into(), heroes_json(context, room, &heroes)?.into());
        }
    }
    if room.membership == Membership::Join {
        let counts = rooms.unread_counts(&room.room_id, user_id)?;
        json.insert("notification_count".into(), counts.notifications.into());
        json.insert("highlight_count".into(), counts.highlights.into());
    }
    Ok(RoomUpdate {
        json: Some(JsonValue::Object(json)),
        sent,
        fresh,
    })
}

/// The current state `required_state` names (`$LAZY` members come from the timeline instead).
fn requested_state(
    context: &Context<'_>,
    room_id: &ruma::RoomId,
    required: &BTreeSet<(String, String)>,
) -> Result<Vec<PduEvent>, ApiError> {
    let rooms = &context.state.services.rooms;
    if required.iter().any(|(kind, _)| kind == "*") {
        return Ok(rooms.current_state(room_id)?);
    }
    let mut events: Vec<PduEvent> = Vec::new();
    for (kind, key) in required {
        let found = match key.as_str() {
            "*" => rooms.state_of_type(room_id, kind)?,
            "$LAZY" => Vec::new(),
            "$ME" => rooms
                .state_pdu(room_id, kind, context.identity.user_id.as_str())?
                .into_iter()
                .collect(),
            key => rooms.state_pdu(room_id, kind, key)?.into_iter().collect(),
        };
        for event in found {
            if !events.iter().any(|known| known.event_id == event.event_id) {
                events.push(event);
            }
        }
    }
    Ok(events)
}

/// Heroes with their display names and avatars, as members of this room.
fn heroes_json(
    context: &Context<'_>,
    room: &ListedRoom,
    heroes: &[OwnedUserId],
) -> Result<Vec<JsonValue>, ApiError> {
    let rooms = &context.state.services.rooms;
    let mut rendered = Vec::new();
    for hero in heroes {
        let mut entry = json!({ "user_id": hero });
        if let Some(member) = rooms.state_pdu(&room.room_id, "m.room.member", hero.as_str())? {
            let content = member.content_json();
            if let Some(name) = content["displayname"].as_str() {
                entry["displayname"] = name.into();
            }
            if let Some(avatar) = content["avatar_url"].as_str() {
                entry["avatar_url"] = avatar.into();
            }
        }
        rendered.push(entry);
    }
    Ok(rendered)
}

/// An invite (or knock): the stripped state the user may see, under `invite_state` (knocks
/// under `knock_state`, as Synapse does).
fn invite_room(
    context: &Context<'_>,
    room: &ListedRoom,
    bump_stamp: u64,
) -> Result<JsonValue, ApiError> {
    let stripped = context
        .state
        .services
        .rooms
        .stripped_state(&room.room_id, &context.identity.user_id)?;
    let name = stripped
        .iter()
        .find(|event| event["type"] == "m.room.name")
        .and_then(|event| event["content"]["name"].as_str())
        .map(str::to_owned);
    let field = match room.membership {
        Membership::Knock => "knock_state",
        _ => "invite_state",
    };
    let mut json = json!({
        "initial": true,
        "bump_stamp": bump_stamp,
        field: stripped,
    });
    if let Some(name) = name {
        json["name"] = name.into();
    }
    if context.is_dm(room) {
        json["is_dm"] = true.into();
    }
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_state_matches_wildcards_and_me() {
        let me = UserId::parse("@me:example.org").expect("valid user id");
        let required: BTreeSet<(String, String)> = [
            ("m.room.name", ""),
            ("m.room.member", "$ME"),
            ("org.example.custom", "*"),
        ]
        .iter()
        .map(|(kind, key)| ((*kind).to_owned(), (*key).to_owned()))
        .collect();
        assert!(wanted(&required, &me, "m.room.name", ""));
        assert!(!wanted(&required, &me, "m.room.topic", ""));
        assert!(wanted(&required, &me, "m.room.member", "@me:example.org"));
        assert!(!wanted(
            &required,
            &me,
            "m.room.member",
            "@other:example.org"
        ));
        assert!(wanted(&required, &me, "org.example.custom", "anything"));
        let everything: BTreeSet<_> = [("*".to_owned(), "*".to_owned())].into();
        assert!(wanted(&everything, &me, "m.room.topic", ""));
        assert!(!lazy_members(&required));
        let lazy: BTreeSet<_> = [("m.room.member".to_owned(), "$LAZY".to_owned())].into();
        assert!(lazy_members(&lazy));
        assert!(!wanted(&lazy, &me, "m.room.member", "@other:example.org"));
    }
}
