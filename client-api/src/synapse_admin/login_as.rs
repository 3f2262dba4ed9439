//! `POST /_synapse/admin/v1/users/{userId}/login`

use axum::{Json, extract::State};
use myelin_core::{Error, users::SessionRequest};
use serde_json::{Value as JsonValue, json};

use super::{endpoints::login_as, local_account, require_admin};
use crate::{ApiError, AppState, Ruma};

/// # `POST /_synapse/admin/v1/users/{userId}/login`
///
/// A token to act as the user. Synapse's is a device-less "puppet" token; Myelin's opens a
/// device named after its purpose, which the user sees in their device list and can log out.
/// `valid_until_ms` ends the token's life then (`M_UNKNOWN_TOKEN` with `soft_logout`, as
/// Synapse answers an expired token).
pub async fn login_as(
    State(state): State<AppState>,
    request: Ruma<login_as::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    require_admin(&state, identity)?;
    let user_id = &request.body.user_id;
    let record = local_account(&state, user_id)?;
    if record.deactivated {
        return Err(Error::UserDeactivated.into());
    }
    let session = state
        .services
        .users
        .open_session(SessionRequest {
            user_id: user_id.clone(),
            device_id: None,
            initial_display_name: Some(format!("Logged in as by {}", identity.user_id)),
            refreshable: false,
            valid_until_ms: request.body.valid_until_ms,
            client_ip: request.client_ip.to_string(),
        })
        .await?;
    tracing::info!(%user_id, admin = %identity.user_id, "an administrator logged in as a user");
    Ok(Json(json!({ "access_token": session.access_token })))
}
