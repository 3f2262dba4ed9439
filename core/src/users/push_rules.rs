//! A user's push rules, kept as the `m.push_rules` global account data (so clients see changes
//! through `/sync`), with the spec's server-default rules until the user changes something.

use ruma::{UserId, push::Ruleset};
use serde_json::{Value as JsonValue, json};

use super::Users;
use crate::{Error, Result};

impl Users {
    pub fn push_rules(&self, user_id: &UserId) -> Result<Ruleset> {
        Ok(self
            .account_data(user_id, None, "m.push_rules")?
            .and_then(|content: JsonValue| content.get("global").cloned())
            .and_then(|global| serde_json::from_value(global).ok())
            .unwrap_or_else(|| Ruleset::server_default(user_id)))
    }

    pub async fn set_push_rules(&self, user_id: &UserId, rules: &Ruleset) -> Result<()> {
        let global =
            serde_json::to_value(rules).map_err(|error| Error::Internal(error.to_string()))?;
        self.set_account_data(user_id, None, "m.push_rules", json!({ "global": global }))
            .await
    }
}
