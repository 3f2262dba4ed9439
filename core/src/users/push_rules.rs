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

    pub async fn set_push_rules(&self, user_id: &UserId, rules: &Ruleset) -> Result<()> {
        let global =
            serde_json::to_value(rules).map_err(|error| Error::Internal(error.to_string()))?;
        self.set_account_data(user_id, None, "m.push_rules", json!({ "global": global }))
            .await
    }
}
