//! `GET /_matrix/client/v3/account/3pid`

use axum::Json;
use ruma::api::client::account::get_3pids::v3;
use serde_json::{Value as JsonValue, json};

use crate::{ApiError, Ruma};

/// # `GET /_matrix/client/v3/account/3pid`
///
/// Myelin has no email or SMS service, so no account has third-party identifiers; clients'
/// settings pages ask for the list regardless. (The endpoints that add or bind them are not
/// served: nothing could verify the address.)
pub async fn get_3pids(request: Ruma<v3::Request>) -> Result<Json<JsonValue>, ApiError> {
    request.identity()?;
    Ok(Json(json!({ "threepids": [] })))
}
