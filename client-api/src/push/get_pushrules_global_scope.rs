//! `GET /_matrix/client/v3/pushrules/global/`

use axum::{Json, extract::State};
use ruma::api::client::push::get_pushrules_global_scope::v3;
use serde_json::Value as JsonValue;

use super::all;
use crate::{ApiError, AppState, Ruma};

/// # `GET /_matrix/client/v3/pushrules/global/`
pub async fn get_pushrules_global_scope(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    all(&state
        .services
        .users
        .push_rules(&request.identity()?.user_id)?)
}
