//! `GET /_synapse/admin/v1/server_version`

use axum::{Json, extract::State};
use serde_json::{Value as JsonValue, json};
use synapse_admin_api::version::get_server_version::v1;

use crate::{ApiError, AppState, Ruma};

/// # `GET /_synapse/admin/v1/server_version`
///
/// Synapse serves it without authentication; so does Myelin.
pub async fn server_version(
    State(_state): State<AppState>,
    _request: Ruma<v1::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    Ok(Json(json!({
        "server_version": format!("Myelin {}", env!("CARGO_PKG_VERSION")),
    })))
}
