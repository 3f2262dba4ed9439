//! `GET /_synapse/admin/v1/username_available`

use axum::{Json, extract::State};
use serde_json::{Value as JsonValue, json};

use super::{endpoints::username_available, require_admin};
use crate::{ApiError, AppState, Ruma};

/// # `GET /_synapse/admin/v1/username_available?username=…`
///
/// As the client API's availability check, for administrators: `M_USER_IN_USE` or
/// `M_INVALID_USERNAME` when the name cannot be had.
pub async fn username_available(
    State(state): State<AppState>,
    request: Ruma<username_available::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    state
        .services
        .users
        .check_username_available(&request.body.username.to_lowercase())?;
    Ok(Json(json!({ "available": true })))
}
