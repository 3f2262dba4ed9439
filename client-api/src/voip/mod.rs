//! `GET /_matrix/client/v3/voip/turnServer`

use axum::{Json, extract::State};
use myelin_core::voip::turn_credentials;
use ruma::api::client::voip::get_turn_server_info::v3;
use serde_json::{Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma};

/// # `GET /_matrix/client/v3/voip/turnServer`
///
/// Without a configured TURN server the answer is `{}`, as Synapse gives (clients then call
/// without relaying).
pub async fn turn_server(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let now_secs = myelin_core::users::now_ms() / 1000;
    Ok(Json(
        match turn_credentials(&state.services.config.voip, &identity.user_id, now_secs) {
            Some(credentials) => json!({
                "username": credentials.username,
                "password": credentials.password,
                "uris": credentials.uris,
                "ttl": credentials.ttl,
            }),
            None => json!({}),
        },
    ))
}
