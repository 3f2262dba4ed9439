//! `PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/enabled`

use axum::{Json, extract::State};
use ruma::api::client::push::set_pushrule_enabled::v3;
use serde_json::Value as JsonValue;

use super::{change_rules, not_found};
use crate::{ApiError, AppState, Ruma};

/// # `PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/enabled`
pub async fn set_pushrule_enabled(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let body = &request.body;
    change_rules(&state, &request.identity()?.user_id, |rules| {
        rules
            .set_enabled(body.kind.clone(), &body.rule_id, body.enabled)
            .map_err(|_| not_found())
    })
    .await
}
