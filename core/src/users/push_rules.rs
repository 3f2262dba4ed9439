//! A user's push rules, kept as the `m.push_rules` global account data (so clients see changes
//! through `/sync`), with the spec's server-default rules until the user changes something.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use ruma::{OwnedUserId, UserId, push::Ruleset};
use serde_json::{Value as JsonValue, json};

use super::Users;
use crate::{Error, Result, lock, storage::Store};

/// The stored `m.push_rules` bytes of a user, if any.
fn stored_bytes(store: &Store, user_id: &UserId) -> Result<Option<Vec<u8>>> {
    let key = super::account_data::key(user_id, None, "m.push_rules");
    store.get(super::account_data::USERROOMTYPE_ACCOUNTDATA, &key)
}

fn parse_rules(bytes: Option<&[u8]>, user_id: &UserId) -> Ruleset {
    bytes
        .and_then(|bytes| serde_json::from_slice::<JsonValue>(bytes).ok())
        .and_then(|content| content.get("global").cloned())
        .and_then(|global| serde_json::from_value(global).ok())
        .unwrap_or_else(|| Ruleset::server_default(user_id))
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
