//! A user's push rules, kept as the `m.push_rules` global account data (so clients see changes
//! through `/sync`), with the spec's server-default rules until the user changes something.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use ruma::{OwnedUserId, UserId, push::Ruleset};
use serde_json::{Value as JsonValue, json};

use super::Users;
use crate::{
    error::{Error, Result},
    mutex::lock,
    storage::Store,
};

/// The stored `m.push_rules` bytes of a user, if any.
fn stored_bytes(store: &Store, user_id: &UserId) -> Result<Option<Vec<u8>>> {
    let key = super::account_data::key(user_id, None, "m.push_rules");
    store.get(super::account_data::USERROOMTYPE_ACCOUNTDATA, &key)
}

fn parse_rules(bytes: Option<&[u8]>, user_id: &UserId) -> Ruleset {
    let mut rules = bytes
        .and_then(|bytes| serde_json::from_slice::<JsonValue>(bytes).ok())
        .and_then(|content| content.get("global").cloned())
        .and_then(|global| serde_json::from_value(global).ok())
        .unwrap_or_else(|| Ruleset::server_default(user_id));
    add_legacy_mention_rules(&mut rules, user_id);
    add_missing_defaults(&mut rules, user_id);
    rules
}

/// Server-default rules added since a user's rules were stored (the poll rules, MSC3930) take
/// their place among them, after the default rule that precedes them: like Synapse, which
/// merges the base rules into every user's at read time, a server upgrade reaches everyone.
fn add_missing_defaults(rules: &mut Ruleset, user_id: &UserId) {
    use ruma::push::ConditionalPushRule;
    fn merge(
        mut stored: Vec<ConditionalPushRule>,
        defaults: &[ConditionalPushRule],
    ) -> Vec<ConditionalPushRule> {
        let mut previous: Option<&str> = None;
        for default in defaults {
            if !stored.iter().any(|rule| rule.rule_id == default.rule_id) {
                let at = previous
                    .and_then(|id| stored.iter().position(|rule| rule.rule_id == id))
                    .map_or(stored.len(), |index| index + 1);
                stored.insert(at, default.clone());
            }
            previous = Some(&default.rule_id);
        }
        stored
    }
    let defaults = Ruleset::server_default(user_id);
    let overrides: Vec<_> = defaults.override_.iter().cloned().collect();
    let underrides: Vec<_> = defaults.underride.iter().cloned().collect();
    rules.override_ = merge(
        std::mem::take(&mut rules.override_).into_iter().collect(),
        &overrides,
    )
    .into_iter()
    .collect();
    rules.underride = merge(
        std::mem::take(&mut rules.underride).into_iter().collect(),
        &underrides,
    )
    .into_iter()
    .collect();
}

/// The server-default rules: ruma's (spec v1.17 and later), plus the legacy mention rules.
pub fn server_default_rules(user_id: &UserId) -> Ruleset {
    let mut rules = Ruleset::server_default(user_id);
    add_legacy_mention_rules(&mut rules, user_id);
    rules
}

/// Ids of the legacy mention rules, which do not apply to events with `m.mentions`.
pub const LEGACY_MENTION_RULES: [&str; 3] = [
    ".m.rule.contains_display_name",
    ".m.rule.roomnotif",
    ".m.rule.contains_user_name",
];

/// Adds the legacy mention rules where they are missing, at their places in the spec's list.
///
/// Spec v1.17 (MSC4210) removed them and ruma's defaults follow it, but Myelin serves the
/// spec versions before it, where they are server defaults, and Synapse still has them: a
/// plain-text mention of the user's name or localpart, or `@room` from someone allowed to
/// notify the room, highlights. Clients that send `m.mentions` are unaffected: the rules do
/// not apply to such events (spec v1.7, MSC3952), as in Synapse's evaluator.
fn add_legacy_mention_rules(rules: &mut Ruleset, user_id: &UserId) {
    use ruma::push::{ConditionalPushRule, PatternedPushRule};
    let highlight = json!(["notify", { "set_tweak": "sound", "value": "default" }, { "set_tweak": "highlight" }]);
    let conditional = |rule_id: &str, conditions: JsonValue, actions: &JsonValue| {
        serde_json::from_value::<ConditionalPushRule>(json!({
            "rule_id": rule_id, "default": true, "enabled": true,
            "conditions": conditions, "actions": actions,
        }))
        .expect("a well-formed push rule")
    };
    let insert_after = |set: &mut ruma::push::Ruleset, after: &str, rule: ConditionalPushRule| {
        if set
            .override_
            .iter()
            .any(|existing| existing.rule_id == rule.rule_id)
        {
            return;
        }
        let mut rule = Some(rule);
        let mut rebuilt = Vec::with_capacity(set.override_.len() + 1);
        for existing in std::mem::take(&mut set.override_) {
            let found = existing.rule_id == after;
            rebuilt.push(existing);
            if found && let Some(rule) = rule.take() {
                rebuilt.push(rule);
            }
        }
        rebuilt.extend(rule);
        set.override_ = rebuilt.into_iter().collect();
    };
    insert_after(
        rules,
        ".m.rule.is_user_mention",
        conditional(
            LEGACY_MENTION_RULES[0],
            json!([{ "kind": "contains_display_name" }]),
            &highlight,
        ),
    );
    insert_after(
        rules,
        ".m.rule.is_room_mention",
        conditional(
            LEGACY_MENTION_RULES[1],
            json!([
                { "kind": "event_match", "key": "content.body", "pattern": "@room" },
                { "kind": "sender_notification_permission", "key": "room" },
            ]),
            &json!(["notify", { "set_tweak": "highlight" }]),
        ),
    );
    if !rules
        .content
        .iter()
        .any(|rule| rule.rule_id == LEGACY_MENTION_RULES[2])
    {
        let rule = serde_json::from_value::<PatternedPushRule>(json!({
            "rule_id": LEGACY_MENTION_RULES[2], "default": true, "enabled": true,
            "pattern": user_id.localpart(), "actions": highlight,
        }))
        .expect("a well-formed push rule");
        rules.content.insert(rule);
    }
}

/// The user's rules as stored, or the server defaults.
pub(crate) fn stored_push_rules(store: &Store, user_id: &UserId) -> Result<Ruleset> {
    Ok(parse_rules(
        stored_bytes(store, user_id)?.as_deref(),
        user_id,
    ))
}

/// Parsed rule sets of the users events were evaluated for. Every event is evaluated for every
/// local member, so parsing each member's rules (or building the defaults) per event would cost
/// far more than the evaluation; an entry is reused while the stored bytes are unchanged, so
/// there is nothing to invalidate and no way to serve stale rules.
#[derive(Default)]
pub(crate) struct RulesetCache {
    entries: Mutex<HashMap<OwnedUserId, CachedRules>>,
}

/// The stored bytes a rule set was parsed from, and the parsed rules.
type CachedRules = (Option<Vec<u8>>, Arc<Ruleset>);

impl RulesetCache {
    /// What event persistence evaluates: the user's rules, parsed at most once per change.
    pub(crate) fn rules(&self, store: &Store, user_id: &UserId) -> Result<Arc<Ruleset>> {
        let bytes = stored_bytes(store, user_id)?;
        if let Some((cached_bytes, rules)) = lock(&self.entries).get(user_id)
            && *cached_bytes == bytes
        {
            return Ok(Arc::clone(rules));
        }
        let rules = Arc::new(parse_rules(bytes.as_deref(), user_id));
        lock(&self.entries).insert(user_id.to_owned(), (bytes, Arc::clone(&rules)));
        Ok(rules)
    }
}

impl Users {
    pub fn push_rules(&self, user_id: &UserId) -> Result<Ruleset> {
        stored_push_rules(self.store(), user_id)
    }

    /// Copies the user's rules for room `from` (a room rule, or override and underride rules
    /// matching its `room_id`) to `to`, its upgrade, as Synapse does when a user joins the
    /// successor [Complement TestPushRuleRoomUpgrade]. Rules `to` already has are kept.
    pub async fn copy_room_push_rules(
        &self,
        user_id: &UserId,
        from: &ruma::RoomId,
        to: &ruma::RoomId,
    ) -> Result<usize> {
        use ruma::push::{NewConditionalPushRule, NewPushRule, NewSimplePushRule};
        let mut rules = self.push_rules(user_id)?;
        let mut copies = Vec::new();
        if let Some(rule) = rules.room.iter().find(|rule| rule.rule_id == from) {
            copies.push(NewPushRule::Room(NewSimplePushRule::new(
                to.to_owned(),
                rule.actions.clone(),
            )));
        }
        for (kind, conditional) in [
            ("override", &rules.override_),
            ("underride", &rules.underride),
        ] {
            for rule in conditional.iter().filter(|rule| !rule.default) {
                let Ok(mut json) = serde_json::to_value(rule) else {
                    continue;
                };
                let mentions_room = json["conditions"].as_array().is_some_and(|conditions| {
                    conditions.iter().any(|condition| {
                        condition["key"] == "room_id" && condition["pattern"] == from.as_str()
                    })
                });
                if !mentions_room {
                    continue;
                }
                if let Some(conditions) = json["conditions"].as_array_mut() {
                    for condition in conditions {
                        if condition["key"] == "room_id" && condition["pattern"] == from.as_str() {
                            condition["pattern"] = to.as_str().into();
                        }
                    }
                }
                let rule_id = rule.rule_id.replace(from.as_str(), to.as_str());
                json["rule_id"] = rule_id.into();
                if let Ok(new_rule) = serde_json::from_value::<NewConditionalPushRule>(json) {
                    copies.push(match kind {
                        "override" => NewPushRule::Override(new_rule),
                        _ => NewPushRule::Underride(new_rule),
                    });
                }
            }
        }
        let mut copied = 0;
        for rule in copies {
            let exists = rules.get(rule.kind(), rule.rule_id()).is_some();
            if !exists && rules.insert(rule, None, None).is_ok() {
                copied += 1;
            }
        }
        if copied > 0 {
            self.set_push_rules(user_id, &rules).await?;
        }
        Ok(copied)
    }

    pub async fn set_push_rules(&self, user_id: &UserId, rules: &Ruleset) -> Result<()> {
        let global =
            serde_json::to_value(rules).map_err(|error| Error::Internal(error.to_string()))?;
        self.set_account_data(user_id, None, "m.push_rules", json!({ "global": global }))
            .await
    }
}
