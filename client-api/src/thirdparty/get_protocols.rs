//! `GET /_matrix/client/v3/thirdparty/protocols`

use axum::{Json, extract::State};
use ruma::api::client::thirdparty::get_protocols::v3;
use serde_json::{Map, Value as JsonValue};

use crate::{ApiError, AppState, Ruma};

/// # `GET /_matrix/client/v3/thirdparty/protocols`
pub async fn get_protocols(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<Map<String, JsonValue>>, ApiError> {
    request.identity()?;
    Ok(Json(super::protocols(&state).await?))
}
