//! Push rules: the nine `/pushrules` endpoints over ruma's rule set (which keeps the spec's
//! ordering and refuses changes to server-default rules where the spec says so).

use axum::{Json, extract::State};
use myelin_core::Error;
use ruma::{
    api::client::push::{
        delete_pushrule, get_pushrule, get_pushrule_actions, get_pushrule_enabled,
        get_pushrules_all, get_pushrules_global_scope, set_pushrule, set_pushrule_actions,
        set_pushrule_enabled,
    },
    push::{RuleKind, Ruleset},
};
use serde_json::{Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma};

fn not_found() -> ApiError {
    Error::NotFound("Push rule not found".into()).into()
}

/// The rule as JSON, or `M_NOT_FOUND`.
fn rule_json(rules: &Ruleset, kind: RuleKind, rule_id: &str) -> Result<JsonValue, ApiError> {
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

fn all(rules: &Ruleset) -> Result<Json<JsonValue>, ApiError> {
    Ok(Json(
        json!({ "global": serde_json::to_value(rules).map_err(|error| Error::Internal(error.to_string()))? }),
    ))
}

/// # `GET /_matrix/client/v3/pushrules/`
pub async fn get_pushrules_all(
    State(state): State<AppState>,
    request: Ruma<get_pushrules_all::v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    all(&state
        .services
        .users
        .push_rules(&request.identity()?.user_id)?)
}

/// # `GET /_matrix/client/v3/pushrules/global/`
pub async fn get_pushrules_global_scope(
    State(state): State<AppState>,
    request: Ruma<get_pushrules_global_scope::v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    all(&state
        .services
        .users
        .push_rules(&request.identity()?.user_id)?)
}

/// # `GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}`
pub async fn get_pushrule(
    State(state): State<AppState>,
    request: Ruma<get_pushrule::v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let rules = state
        .services
        .users
        .push_rules(&request.identity()?.user_id)?;
    Ok(Json(rule_json(
        &rules,
        request.body.kind.clone(),
        &request.body.rule_id,
    )?))
}

/// # `PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}`
pub async fn set_pushrule(
    State(state): State<AppState>,
    request: Ruma<set_pushrule::v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let users = &state.services.users;
    let mut rules = users.push_rules(&identity.user_id)?;
    let body = &request.body;
    rules
        .insert(
            body.rule.clone(),
            body.after.as_deref(),
            body.before.as_deref(),
        )
        .map_err(|error| match error {
            ruma::push::InsertPushRuleError::UnknownRuleId => {
                ApiError::from(Error::NotFound(format!("{error}")))
            }
            other => Error::InvalidParam(other.to_string()).into(),
        })?;
    users.set_push_rules(&identity.user_id, &rules).await?;
    Ok(Json(json!({})))
}

/// # `DELETE /_matrix/client/v3/pushrules/global/{kind}/{ruleId}`
pub async fn delete_pushrule(
    State(state): State<AppState>,
    request: Ruma<delete_pushrule::v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let users = &state.services.users;
    let mut rules = users.push_rules(&identity.user_id)?;
    rules
        .remove(request.body.kind.clone(), &request.body.rule_id)
        .map_err(|error| match error {
            ruma::push::RemovePushRuleError::NotFound => not_found(),
            other => Error::InvalidParam(other.to_string()).into(),
        })?;
    users.set_push_rules(&identity.user_id, &rules).await?;
    Ok(Json(json!({})))
}

/// # `GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/enabled`
pub async fn get_pushrule_enabled(
    State(state): State<AppState>,
    request: Ruma<get_pushrule_enabled::v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let rules = state
        .services
        .users
        .push_rules(&request.identity()?.user_id)?;
    let rule = rule_json(&rules, request.body.kind.clone(), &request.body.rule_id)?;
    Ok(Json(json!({ "enabled": rule["enabled"] })))
}

/// # `PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/enabled`
pub async fn set_pushrule_enabled(
    State(state): State<AppState>,
    request: Ruma<set_pushrule_enabled::v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let users = &state.services.users;
    let mut rules = users.push_rules(&identity.user_id)?;
    let body = &request.body;
    rules
        .set_enabled(body.kind.clone(), &body.rule_id, body.enabled)
        .map_err(|_| not_found())?;
    users.set_push_rules(&identity.user_id, &rules).await?;
    Ok(Json(json!({})))
}

/// # `GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/actions`
pub async fn get_pushrule_actions(
    State(state): State<AppState>,
    request: Ruma<get_pushrule_actions::v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let rules = state
        .services
        .users
        .push_rules(&request.identity()?.user_id)?;
    let rule = rule_json(&rules, request.body.kind.clone(), &request.body.rule_id)?;
    Ok(Json(json!({ "actions": rule["actions"] })))
}

/// # `PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/actions`
pub async fn set_pushrule_actions(
    State(state): State<AppState>,
    request: Ruma<set_pushrule_actions::v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let users = &state.services.users;
    let mut rules = users.push_rules(&identity.user_id)?;
    let body = &request.body;
    rules
        .set_actions(body.kind.clone(), &body.rule_id, body.actions.clone())
        .map_err(|_| not_found())?;
    users.set_push_rules(&identity.user_id, &rules).await?;
    Ok(Json(json!({})))
}
