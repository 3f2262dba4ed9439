//! `DELETE /_matrix/client/v3/pushrules/global/{kind}/{ruleId}`

use axum::{Json, extract::State};
use myelin_core::Error;
use ruma::api::client::push::delete_pushrule::v3;
use serde_json::Value as JsonValue;

use super::{change_rules, not_found};
use crate::{ApiError, AppState, Ruma};

/// # `DELETE /_matrix/client/v3/pushrules/global/{kind}/{ruleId}`
pub async fn delete_pushrule(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let body = &request.body;
    change_rules(&state, &request.identity()?.user_id, |rules| {
        rules
            .remove(body.kind.clone(), &body.rule_id)
            .map_err(|error| match error {
                ruma::push::RemovePushRuleError::NotFound => not_found(),
                other => Error::InvalidParam(other.to_string()).into(),
            })
    })
    .await
}
