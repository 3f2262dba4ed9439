//! Invite blocking: the `m.invite_permission_config` account data of spec v1.18 (MSC4380, a
//! `block_all` switch) and the older MSC4155 form (`org.matrix.msc4155.invite_permission_config`,
//! allowed, ignored and blocked users and servers as globs). A blocked invite is refused with
//! `M_INVITE_BLOCKED`; an ignored one is taken but never shown to the invitee.

use regex::Regex;
use ruma::UserId;
use serde_json::Value as JsonValue;

use super::Users;
use crate::error::Result;

/// What to do with an invite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteDecision {
    Allow,
    /// Taken, but hidden from the invitee (no feedback to the inviter).
    Ignore,
    /// Refused with `M_INVITE_BLOCKED`.
    Block,
}

/// The account data types, stable first.
const BLOCK_ALL_TYPES: [&str; 2] = [
    "m.invite_permission_config",
    "org.matrix.msc4380.invite_permission_config",
];
const MSC4155_TYPE: &str = "org.matrix.msc4155.invite_permission_config";

impl Users {
    /// How `invitee` (a local user) takes an invite from `inviter`.
    pub fn invite_decision(&self, invitee: &UserId, inviter: &UserId) -> Result<InviteDecision> {
        for kind in BLOCK_ALL_TYPES {
            if self
                .account_data(invitee, None, kind)?
                .and_then(|content| content.get("block_all").and_then(JsonValue::as_bool))
                == Some(true)
            {
                return Ok(InviteDecision::Block);
            }
        }
        Ok(match self.account_data(invitee, None, MSC4155_TYPE)? {
            Some(config) => msc4155_decision(&config, inviter),
            None => InviteDecision::Allow,
        })
    }
}

/// MSC4155's order: allowed, then ignored, then blocked (users or servers), else allowed.
fn msc4155_decision(config: &JsonValue, inviter: &UserId) -> InviteDecision {
    let matches = |kind: &str| {
        let hits = |field: &str, subject: &str| {
            config
                .get(field)
                .and_then(JsonValue::as_array)
                .into_iter()
                .flatten()
                .filter_map(JsonValue::as_str)
                .any(|pattern| glob_matches(pattern, subject))
        };
        hits(&format!("{kind}_users"), inviter.as_str())
            || hits(&format!("{kind}_servers"), inviter.server_name().as_str())
    };
    if matches("allowed") {
        InviteDecision::Allow
    } else if matches("ignored") {
        InviteDecision::Ignore
    } else if matches("blocked") {
        InviteDecision::Block
    } else {
        InviteDecision::Allow
    }
}

/// The spec's glob matching (`*` any run of characters, `?` one), whole string.
fn glob_matches(pattern: &str, subject: &str) -> bool {
    let mut expression = String::with_capacity(pattern.len() + 8);
    expression.push('^');
    for character in pattern.chars() {
        match character {
            '*' => expression.push_str(".*"),
            '?' => expression.push('.'),
            other => expression.push_str(&regex::escape(&other.to_string())),
        }
    }
    expression.push('$');
    Regex::new(&expression).is_ok_and(|regex| regex.is_match(subject))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn msc4155_evaluates_allowed_then_ignored_then_blocked() {
        let bad = <&UserId>::try_from("@spammer:badguys.org").expect("user");
        let good = <&UserId>::try_from("@goodguy:badguys.org").expect("user");
        let other = <&UserId>::try_from("@someone:example.org").expect("user");
        let cases = [
            (json!({}), bad, InviteDecision::Allow),
            (
                json!({ "blocked_servers": ["*"] }),
                other,
                InviteDecision::Block,
            ),
            (
                json!({ "allowed_servers": ["example.org"], "blocked_servers": ["*"] }),
                other,
                InviteDecision::Allow,
            ),
            (
                json!({ "allowed_servers": ["example.org"], "blocked_servers": ["*"] }),
                bad,
                InviteDecision::Block,
            ),
            (
                json!({ "allowed_users": ["@goodguy:badguys.org"], "blocked_servers": ["badguys.org"] }),
                good,
                InviteDecision::Allow,
            ),
            (
                json!({ "allowed_users": ["@goodguy:badguys.org"], "blocked_servers": ["badguys.org"] }),
                bad,
                InviteDecision::Block,
            ),
            (
                json!({ "ignored_servers": ["bad*.org"], "blocked_servers": ["*"] }),
                bad,
                InviteDecision::Ignore,
            ),
            (
                json!({ "ignored_users": ["@spam?er:*"] }),
                bad,
                InviteDecision::Ignore,
            ),
            (json!({ "blocked_users": null }), bad, InviteDecision::Allow),
        ];
        for (config, inviter, expected) in cases {
            assert_eq!(
                msc4155_decision(&config, inviter),
                expected,
                "{config} for {inviter}"
            );
        }
    }
}
