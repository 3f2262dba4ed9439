//! A user's push rules, kept as the `m.push_rules` global account data (so clients see changes
//! through `/sync`), with the spec's server-default rules until the user changes something.

use ruma::{UserId, push::Ruleset};
use serde_json::{Value as JsonValue, json};

use super::Users;
use crate::{Error, Result, storage::Store};

/// The user's rules as stored, or the server defaults (also what event persistence evaluates).
pub(crate) fn stored_push_rules(store: &Store, user_id: &UserId) -> Result<Ruleset> {
    let key = super::account_data::key(user_id, None, "m.push_rules");
    Ok(store
        .get_json::<JsonValue>(super::account_data::USERROOMTYPE_ACCOUNTDATA, &key)?
        .and_then(|content| content.get("global").cloned())
        .and_then(|global| serde_json::from_value(global).ok())
        .unwrap_or_else(|| Ruleset::server_default(user_id)))
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
