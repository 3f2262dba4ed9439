//! `GET /.well-known/matrix/server`

use axum::{Json, extract::State};
use myelin_core::Error;
use ruma::api::federation::discovery::discover_homeserver::Request;
use serde_json::{Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma};

/// # `GET /.well-known/matrix/server`
///
/// Points other servers at the federation listener, as Synapse's `serve_server_wellknown` does.
pub async fn discover_federation_server(
    State(state): State<AppState>,
    _request: Ruma<Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let config = &state.services.config;
    if !config.federation.enabled {
        return Err(Error::NotFound("Federation is disabled on this server".into()).into());
    }
    let host = config
        .server
        .name
        .split(':')
        .next()
        .unwrap_or(&config.server.name);
    Ok(Json(
        json!({ "m.server": format!("{host}:{}", config.federation.bind.port()) }),
    ))
}
