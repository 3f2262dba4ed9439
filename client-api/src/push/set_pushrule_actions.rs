//! `PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/actions`

use axum::{Json, extract::State};
use ruma::api::client::push::set_pushrule_actions::v3;
use serde_json::Value as JsonValue;

use super::{change_rules, not_found};
use crate::{ApiError, AppState, Ruma};

/// # `PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/actions`
pub async fn set_pushrule_actions(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let body = &request.body;
    change_rules(&state, &request.identity()?.user_id, |rules| {
        rules
            .set_actions(body.kind.clone(), &body.rule_id, body.actions.clone())
            .map_err(|_| not_found())
    })
    .await
}
