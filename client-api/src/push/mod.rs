//! Push rules: the nine `/pushrules` endpoints over ruma's rule set (which keeps the spec's
//! ordering and refuses changes to server-default rules where the spec says so).
pub mod delete_pushrule;
pub mod get_pushrule;
pub mod get_pushrule_actions;
pub mod get_pushrule_enabled;
pub mod get_pushrules_all;
pub mod get_pushrules_global_scope;
pub mod set_pushrule;
pub mod set_pushrule_actions;
pub mod set_pushrule_enabled;

use axum::Json;
use myelin_core::Error;
use ruma::push::{RuleKind, Ruleset};
use serde_json::{Value as JsonValue, json};

use crate::{ApiError, AppState};

pub(super) fn not_found() -> ApiError {
    Error::NotFound("Push rule not found".into()).into()
}

/// The rule as JSON, or `M_NOT_FOUND`.
pub(super) fn rule_json(
    rules: &Ruleset,
    kind: RuleKind,
    rule_id: &str,
) -> Result<JsonValue, ApiError> {
    use ruma::push::AnyPushRuleRef as Rule;
    let rule = rules.get(kind, rule_id).ok_or_else(not_found)?;
    let json = match rule {
        Rule::Override(rule) | Rule::Underride(rule) => serde_json::to_value(rule),
        Rule::Content(rule) => serde_json::to_value(rule),
        Rule::Room(rule) => serde_json::to_value(rule),
        Rule::Sender(rule) => serde_json::to_value(rule),
        _ => return Err(not_found()),
    };
    json.map_err(|error| Error::Internal(error.to_string()).into())
}

/// A rule set as clients read it: every kind present, `[]` when it has no rules (ruma leaves
/// empty kinds out; Synapse and clients expect all five).
pub(crate) fn ruleset_json(rules: &Ruleset) -> Result<JsonValue, ApiError> {
    let mut json =
        serde_json::to_value(rules).map_err(|error| Error::Internal(error.to_string()))?;
    if let Some(kinds) = json.as_object_mut() {
        for kind in ["override", "content", "room", "sender", "underride"] {
            kinds.entry(kind).or_insert_with(|| json!([]));
        }
    }
    Ok(json)
}

/// `GET /pushrules/`: the rule set under its scope.
pub(super) fn all(rules: &Ruleset) -> Result<Json<JsonValue>, ApiError> {
    Ok(Json(json!({ "global": ruleset_json(rules)? })))
}

/// Applies `change` to the caller's rules and stores them.
pub(super) async fn change_rules(
    state: &AppState,
    user_id: &ruma::UserId,
    change: impl FnOnce(&mut Ruleset) -> Result<(), ApiError>,
) -> Result<Json<JsonValue>, ApiError> {
    let users = &state.services.users;
    let mut rules = users.push_rules(user_id)?;
    change(&mut rules)?;
    users.set_push_rules(user_id, &rules).await?;
    Ok(Json(json!({})))
}
