//! `GET /_synapse/admin/v1/whois/{userId}`

use axum::{Json, extract::State};
use serde_json::Value as JsonValue;

use super::{endpoints::whois, local_account, require_admin};
use crate::{ApiError, AppState, Ruma};

/// # `GET /_synapse/admin/v1/whois/{userId}`
///
/// The same answer as the client API's `whois`: each device with its last connection.
pub async fn whois(
    State(state): State<AppState>,
    request: Ruma<whois::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let user_id = &request.body.user_id;
    local_account(&state, user_id)?;
    Ok(Json(crate::admin::whois_of(&state, user_id)?))
}
