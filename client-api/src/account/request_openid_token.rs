//! `POST /_matrix/client/v3/user/{userId}/openid/request_token`

use axum::{Json, extract::State};
use myelin_core::users::OPENID_TOKEN_LIFETIME_MS;
use ruma::api::client::account::request_openid_token::v3;
use serde_json::{Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma};

/// # `POST /_matrix/client/v3/user/{userId}/openid/request_token`
///
/// A token a third party verifies through this server's `openid/userinfo` federation endpoint.
pub async fn request_openid_token(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    if identity.user_id != request.body.user_id {
        return Err(ApiError::forbidden(
            "Cannot request an OpenID token for another user",
        ));
    }
    let token = state
        .services
        .users
        .issue_openid_token(&identity.user_id)
        .await?;
    Ok(Json(json!({
        "access_token": token,
        "token_type": "Bearer",
        "matrix_server_name": state.services.rooms.server_name(),
        "expires_in": OPENID_TOKEN_LIFETIME_MS / 1000,
    })))
}
