//! `PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}`

use axum::{Json, extract::State};
use myelin_core::Error;
use ruma::api::client::push::set_pushrule::v3;
use serde_json::Value as JsonValue;

use super::change_rules;
use crate::{ApiError, AppState, Ruma};

/// # `PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}`
pub async fn set_pushrule(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let body = &request.body;
    change_rules(&state, &request.identity()?.user_id, |rules| {
        rules
            .insert(
                body.rule.clone(),
                body.after.as_deref(),
                body.before.as_deref(),
            )
            .map_err(|error| match error {
                ruma::push::InsertPushRuleError::UnknownRuleId => {
                    Error::NotFound(error.to_string()).into()
                }
                other => Error::InvalidParam(other.to_string()).into(),
            })
    })
    .await
}
