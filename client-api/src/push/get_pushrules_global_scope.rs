//! `GET /_matrix/client/v3/pushrules/global/`

use axum::{Json, extract::State};
use ruma::api::client::push::get_pushrules_global_scope::v3;
use serde_json::Value as JsonValue;

use super::ruleset_json;
use crate::{ApiError, AppState, Ruma};

/// # `GET /_matrix/client/v3/pushrules/global/`
pub async fn get_pushrules_global_scope(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    // The rule set itself, not wrapped in its scope as `GET /pushrules/` has it.
    Ok(Json(ruleset_json(
        &state
            .services
            .users
            .push_rules(&request.identity()?.user_id)?,
    )?))
}
