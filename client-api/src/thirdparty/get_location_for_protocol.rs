//! `GET /_matrix/client/v3/thirdparty/location/{protocol}`

use axum::{Json, extract::State};
use ruma::api::client::thirdparty::get_location_for_protocol::v3;
use serde_json::Value as JsonValue;

use crate::{ApiError, AppState, Ruma};

/// # `GET /_matrix/client/v3/thirdparty/location/{protocol}`
///
/// Asked of the appservices serving the protocol, with the query fields passed on.
pub async fn get_location_for_protocol(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<Vec<JsonValue>>, ApiError> {
    request.identity()?;
    let body = &request.body;
    let path = format!(
        "location/{}?{}",
        super::encode(&body.protocol),
        super::query(&body.fields)
    );
    Ok(Json(
        super::ask_all(&state, Some(&body.protocol), path).await?,
    ))
}
