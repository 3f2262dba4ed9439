//! `GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/actions`

use axum::{Json, extract::State};
use ruma::api::client::push::get_pushrule_actions::v3;
use serde_json::{Value as JsonValue, json};

use super::rule_json;
use crate::{ApiError, AppState, Ruma};

/// # `GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/actions`
pub async fn get_pushrule_actions(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let rules = state
        .services
        .users
        .push_rules(&request.identity()?.user_id)?;
    let rule = rule_json(&rules, request.body.kind.clone(), &request.body.rule_id)?;
    Ok(Json(json!({ "actions": rule["actions"] })))
}
