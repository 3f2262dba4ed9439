//! The shapes the spec gives the content of well-known events, checked on every event a local
//! user creates (never on events from other servers, which the auth rules judge). Synapse's
//! `EventValidator` checks the same fields (and answers 400); Myelin also checks the state
//! events whose fields the spec marks required strings (`join_rule`, `history_visibility`,
//! `guest_access`, `algorithm`), because a room whose join rule is `7` is a room nobody can
//! reason about.

use ruma::RoomId;
use serde_json::Value as JsonValue;

use crate::error::{Error, Result};

/// The memberships the spec defines.
const MEMBERSHIPS: &[&str] = &["invite", "join", "knock", "leave", "ban"];

/// Refuses content whose well-known fields have the wrong type, and well-known state types
/// sent as messages.
pub fn check_new_event(
    room_id: &RoomId,
    kind: &str,
    state_key: Option<&str>,
    content: &JsonValue,
) -> Result<()> {
    let Some(fields) = content.as_object() else {
        return Err(bad("content must be a JSON object"));
    };
    let field = |name: &str| fields.get(name);
    let must_be_state = |kind: &str| match state_key {
        Some(_) => Ok(()),
        None => Err(bad(&format!("'{kind}' must be a state event"))),
    };
    match kind {
        "m.room.message" => {
            required_string(fields, "body")?;
            required_string(fields, "msgtype")?;
        }
        "m.room.name" => {
            must_be_state(kind)?;
            required_string(fields, "name")?;
        }
        "m.room.topic" => {
            must_be_state(kind)?;
            required_string(fields, "topic")?;
        }
        "m.room.member" => {
            must_be_state(kind)?;
            let membership = field("membership").and_then(JsonValue::as_str);
            if !membership.is_some_and(|membership| MEMBERSHIPS.contains(&membership)) {
                return Err(bad(
                    "'membership' must be one of invite, join, knock, leave, ban",
                ));
            }
            optional_string(fields, "displayname")?;
            optional_string(fields, "avatar_url")?;
            optional_string(fields, "reason")?;
        }
        "m.room.tombstone" => {
            must_be_state(kind)?;
            let replacement = required_string(fields, "replacement_room")?;
            if replacement == room_id.as_str() {
                return Err(bad("A tombstone cannot name the room it is sent in"));
            }
        }
        "m.room.join_rules" => {
            must_be_state(kind)?;
            required_string(fields, "join_rule")?;
            if let Some(allow) = field("allow")
                && !allow.as_array().is_some_and(|conditions| {
                    conditions
                        .iter()
                        .all(|condition| condition.get("type").is_some_and(|kind| kind.is_string()))
                })
            {
                return Err(bad("'allow' must be a list of conditions with a 'type'"));
            }
        }
        "m.room.history_visibility" => {
            must_be_state(kind)?;
            required_string(fields, "history_visibility")?;
        }
        "m.room.guest_access" => {
            must_be_state(kind)?;
            required_string(fields, "guest_access")?;
        }
        "m.room.encryption" => {
            must_be_state(kind)?;
            required_string(fields, "algorithm")?;
            optional_integer(fields, "rotation_period_ms")?;
            optional_integer(fields, "rotation_period_msgs")?;
        }
        "m.room.avatar" => {
            must_be_state(kind)?;
            optional_string(fields, "url")?;
        }
        "m.room.canonical_alias" => {
            must_be_state(kind)?;
            optional_string(fields, "alias")?;
            if let Some(aliases) = field("alt_aliases")
                && !is_list_of_strings(aliases)
            {
                return Err(bad("'alt_aliases' must be a list of strings"));
            }
        }
        "m.room.server_acl" => {
            must_be_state(kind)?;
            for list in ["allow", "deny"] {
                if let Some(servers) = field(list)
                    && !is_list_of_strings(servers)
                {
                    return Err(bad(&format!("'{list}' must be a list of strings")));
                }
            }
            if field("allow_ip_literals").is_some_and(|value| !value.is_boolean()) {
                return Err(bad("'allow_ip_literals' must be a boolean"));
            }
        }
        "m.room.power_levels" => {
            must_be_state(kind)?;
            check_power_levels(fields)?;
        }
        _ => {}
    }
    if let Some(mentions) = field("m.mentions") {
        let valid = mentions.as_object().is_some_and(|mentions| {
            mentions.get("user_ids").is_none_or(is_list_of_strings)
                && mentions.get("room").is_none_or(JsonValue::is_boolean)
        });
        if !valid {
            return Err(bad(
                "'m.mentions' must have a list of strings 'user_ids' and a boolean 'room'",
            ));
        }
    }
    Ok(())
}

/// Power levels are integers, or objects of integers (Synapse's `POWER_LEVELS_SCHEMA`).
fn check_power_levels(fields: &serde_json::Map<String, JsonValue>) -> Result<()> {
    for name in [
        "ban",
        "events_default",
        "invite",
        "kick",
        "redact",
        "state_default",
        "users_default",
    ] {
        optional_integer(fields, name)?;
    }
    for name in ["events", "notifications", "users"] {
        let Some(levels) = fields.get(name) else {
            continue;
        };
        let valid = levels
            .as_object()
            .is_some_and(|levels| levels.values().all(is_integer));
        if !valid {
            return Err(bad(&format!("'{name}' must map to integers")));
        }
    }
    Ok(())
}

fn bad(message: &str) -> Error {
    Error::BadJson(message.to_owned())
}

fn is_integer(value: &JsonValue) -> bool {
    value.is_i64() || value.is_u64()
}

fn is_list_of_strings(value: &JsonValue) -> bool {
    value
        .as_array()
        .is_some_and(|items| items.iter().all(JsonValue::is_string))
}

fn required_string<'a>(
    fields: &'a serde_json::Map<String, JsonValue>,
    name: &str,
) -> Result<&'a str> {
    match fields.get(name) {
        None => Err(bad(&format!("'{name}' is missing from the content"))),
        Some(value) => value
            .as_str()
            .ok_or_else(|| bad(&format!("'{name}' must be a string"))),
    }
}

fn optional_string(fields: &serde_json::Map<String, JsonValue>, name: &str) -> Result<()> {
    match fields.get(name) {
        Some(value) if !value.is_string() && !value.is_null() => {
            Err(bad(&format!("'{name}' must be a string")))
        }
        _ => Ok(()),
    }
}

fn optional_integer(fields: &serde_json::Map<String, JsonValue>, name: &str) -> Result<()> {
    match fields.get(name) {
        Some(value) if !is_integer(value) => Err(bad(&format!("'{name}' must be an integer"))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(kind: &str, state_key: Option<&str>, content: JsonValue) -> Result<()> {
        let room_id = <&RoomId>::try_from("!room:example.org").expect("room id");
        check_new_event(room_id, kind, state_key, &content)
    }

    #[test]
    fn wrongly_typed_well_known_fields_are_refused() {
        let refused = [
            ("m.room.name", Some(""), json!({ "name": 7 })),
            ("m.room.name", Some(""), json!({})),
            ("m.room.name", None, json!({ "name": "sent as a message" })),
            ("m.room.topic", Some(""), json!({ "topic": ["a"] })),
            ("m.room.join_rules", Some(""), json!({ "join_rule": 7 })),
            (
                "m.room.join_rules",
                Some(""),
                json!({ "join_rule": "restricted", "allow": {} }),
            ),
            (
                "m.room.history_visibility",
                Some(""),
                json!({ "history_visibility": true }),
            ),
            (
                "m.room.guest_access",
                Some(""),
                json!({ "guest_access": null }),
            ),
            ("m.room.encryption", Some(""), json!({ "algorithm": 1 })),
            (
                "m.room.member",
                Some("@a:x"),
                json!({ "membership": "joined" }),
            ),
            (
                "m.room.member",
                Some("@a:x"),
                json!({ "membership": "join", "displayname": 1 }),
            ),
            ("m.room.power_levels", Some(""), json!({ "ban": "50" })),
            (
                "m.room.power_levels",
                Some(""),
                json!({ "users": { "@a:x": 1.5 } }),
            ),
            ("m.room.power_levels", Some(""), json!({ "events": [] })),
            (
                "m.room.tombstone",
                Some(""),
                json!({ "replacement_room": "!room:example.org" }),
            ),
            ("m.room.server_acl", Some(""), json!({ "allow": "*" })),
            (
                "m.room.canonical_alias",
                Some(""),
                json!({ "alt_aliases": [1] }),
            ),
            ("m.room.message", None, json!({ "msgtype": "m.text" })),
            (
                "m.room.message",
                None,
                json!({ "msgtype": "m.text", "body": {} }),
            ),
            (
                "m.room.message",
                None,
                json!({ "msgtype": "m.text", "body": "hi", "m.mentions": { "room": "yes" } }),
            ),
            ("org.example.custom", None, json!([])),
        ];
        for (kind, state_key, content) in refused {
            assert!(
                matches!(
                    check(kind, state_key, content.clone()),
                    Err(Error::BadJson(_))
                ),
                "{kind} {content} should be refused"
            );
        }
    }

    #[test]
    fn well_formed_content_passes() {
        let accepted = [
            ("m.room.name", Some(""), json!({ "name": "" })),
            (
                "m.room.join_rules",
                Some(""),
                json!({ "join_rule": "restricted", "allow": [{ "type": "m.room_membership", "room_id": "!b:x" }] }),
            ),
            (
                "m.room.power_levels",
                Some(""),
                json!({ "ban": 50, "users": { "@a:x": 100 }, "events": {} }),
            ),
            (
                "m.room.member",
                Some("@a:x"),
                json!({ "membership": "join", "displayname": null }),
            ),
            ("m.room.canonical_alias", Some(""), json!({})),
            (
                "m.room.message",
                None,
                json!({ "msgtype": "m.text", "body": "hi", "m.mentions": { "user_ids": ["@a:x"] } }),
            ),
            ("org.example.custom", Some("x"), json!({ "anything": 7 })),
            (
                "m.room.encryption",
                Some(""),
                json!({ "algorithm": "m.megolm.v1.aes-sha2", "rotation_period_ms": 604800000 }),
            ),
        ];
        for (kind, state_key, content) in accepted {
            assert!(
                check(kind, state_key, content.clone()).is_ok(),
                "{kind} {content}"
            );
        }
    }
}
