//! `GET /_matrix/client/v3/thirdparty/protocol/{protocol}`

use axum::{Json, extract::State};
use myelin_core::Error;
use ruma::api::client::thirdparty::get_protocol::v3;
use serde_json::Value as JsonValue;

use crate::{ApiError, AppState, Ruma};

/// # `GET /_matrix/client/v3/thirdparty/protocol/{protocol}`
pub async fn get_protocol(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    request.identity()?;
    let mut protocols = super::protocols(&state).await?;
    protocols
        .remove(&request.body.protocol)
        .map(Json)
        .ok_or_else(|| Error::NotFound("No appservice serves this protocol".into()).into())
}
