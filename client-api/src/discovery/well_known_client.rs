//! `GET /.well-known/matrix/client`

use axum::{Json, extract::State};
use ruma::api::client::discovery::discover_homeserver::Request;
use serde_json::{Value as JsonValue, json};

use crate::{AppState, Ruma};

/// # `GET /.well-known/matrix/client`
pub async fn discover_homeserver(
    State(state): State<AppState>,
    _request: Ruma<Request>,
) -> Json<JsonValue> {
    let config = &state.services.config;
    let base_url = config.client_base_url();
    let mut document = config.client.well_known_extra.clone();
    document.insert("m.homeserver".into(), json!({ "base_url": base_url }));
    Json(JsonValue::Object(document))
}
