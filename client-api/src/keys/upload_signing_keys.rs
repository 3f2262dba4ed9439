//! `POST /_matrix/client/v3/keys/device_signing/upload`

use axum::{Json, extract::State};
use myelin_core::users::CrossSigningUpload;
use ruma::api::client::keys::upload_signing_keys::v3;
use serde_json::{Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma};

/// # `POST /_matrix/client/v3/keys/device_signing/upload`
///
/// The first upload needs no user-interactive authentication, nor does re-uploading the same
/// keys; replacing a master key does (spec v1.11; Synapse behaves the same).
pub async fn upload_signing_keys(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let parse = |raw: &Option<ruma::serde::Raw<_>>| -> Result<Option<JsonValue>, ApiError> {
        raw.as_ref()
            .map(
                |raw: &ruma::serde::Raw<ruma::encryption::CrossSigningKey>| {
                    serde_json::from_str(raw.json().get())
                        .map_err(|error| ApiError::bad_json(error.to_string()))
                },
            )
            .transpose()
    };
    let upload = CrossSigningUpload {
        master: parse(&request.body.master_key)?,
        self_signing: parse(&request.body.self_signing_key)?,
        user_signing: parse(&request.body.user_signing_key)?,
    };
    let users = &state.services.users;
    if users.cross_signing_upload_needs_auth(&identity.user_id, &upload)? {
        users
            .confirm_password(&identity.user_id, request.auth_json())
            .await?;
    }
    users
        .upload_cross_signing_keys(&identity.user_id, upload)
        .await?;
    Ok(Json(json!({})))
}
