//! `POST /_matrix/client/v1/appservice/{appserviceId}/ping`

use axum::{Json, extract::State, http::StatusCode};
use myelin_core::Error;
use ruma::api::client::appservice::request_ping::v1;
use serde_json::{Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma};

/// # `POST /_matrix/client/v1/appservice/{appserviceId}/ping`
///
/// An appservice checks that this server can reach it: the server pings it back and reports
/// the round trip.
pub async fn request_ping(
    State(state): State<AppState>,
    request: Ruma<v1::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let id = request.body.appservice_id.as_str();
    if identity.appservice_id.as_deref() != Some(id) {
        return Err(ApiError::forbidden(
            "Only the appservice itself can ask for its ping",
        ));
    }
    let appservice = state
        .services
        .appservices
        .by_id(id)
        .ok_or_else(|| Error::NotFound("Unknown appservice".into()))?;
    if appservice.registration.url.is_none() {
        return Err(ApiError::http(
            StatusCode::BAD_REQUEST,
            "M_URL_NOT_SET",
            "The appservice has no URL to ping",
        ));
    }
    let queries = state
        .services
        .appservice_queries
        .get()
        .ok_or_else(|| Error::Internal("no appservice client".into()))?;
    match queries
        .ping(
            id,
            request
                .body
                .transaction_id
                .as_ref()
                .map(ToString::to_string),
        )
        .await
    {
        Ok(duration_ms) => Ok(Json(json!({ "duration_ms": duration_ms }))),
        Err(Error::Unavailable(message)) if message.contains("answered") => Err(ApiError::http(
            StatusCode::BAD_GATEWAY,
            "M_BAD_STATUS",
            message,
        )),
        Err(Error::Unavailable(message)) => Err(ApiError::http(
            StatusCode::BAD_GATEWAY,
            "M_CONNECTION_FAILED",
            message,
        )),
        Err(other) => Err(other.into()),
    }
}
