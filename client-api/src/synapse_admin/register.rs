//! `GET` and `POST /_synapse/admin/v1/register`: Synapse's shared-secret registration, how
//! scripts and `register_new_matrix_user` make accounts (administrators too) on a running
//! server. A nonce from `GET` is good for one registration within a minute; the `POST` proves
//! knowledge of `registration.registration_shared_secret` with an HMAC-SHA1 over the nonce,
//! user, password and admin flag.

use std::time::{Duration, Instant};

use axum::{Json, extract::State};
use myelin_core::{
    Error, lock,
    users::{SessionRequest, validate_new_localpart},
};
use serde_json::{Value as JsonValue, json};
use synapse_admin_api::register_users::{
    shared_secret_register::v1::hmac, shared_secret_register_nonce::v1,
};

use super::endpoints::shared_secret_register;
use crate::{ApiError, AppState, Ruma};

/// How long a nonce stays good (Synapse's `NONCE_TIMEOUT`).
const NONCE_LIFETIME: Duration = Duration::from_secs(60);

fn shared_secret(state: &AppState) -> Result<String, ApiError> {
    state
        .services
        .config
        .registration
        .registration_shared_secret
        .clone()
        .ok_or_else(|| {
            ApiError::http(
                axum::http::StatusCode::BAD_REQUEST,
                "M_UNKNOWN",
                "Shared secret registration is not enabled",
            )
        })
}

/// # `GET /_synapse/admin/v1/register`
pub async fn nonce(
    State(state): State<AppState>,
    _request: Ruma<v1::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    shared_secret(&state)?;
    let nonce = myelin_core::ids::random_string(32);
    let mut nonces = lock(&state.admin_nonces);
    nonces.retain(|_, issued| issued.elapsed() < NONCE_LIFETIME);
    nonces.insert(nonce.clone(), Instant::now());
    Ok(Json(json!({ "nonce": nonce })))
}

/// # `POST /_synapse/admin/v1/register`
pub async fn register(
    State(state): State<AppState>,
    request: Ruma<shared_secret_register::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let secret = shared_secret(&state)?;
    let body = &request.body;
    // A nonce is used up by any attempt, right or wrong (as Synapse).
    let issued = lock(&state.admin_nonces).remove(&body.nonce);
    if issued.is_none_or(|issued| issued.elapsed() >= NONCE_LIFETIME) {
        return Err(Error::InvalidParam("unrecognised nonce".into()).into());
    }
    let expected = match body.user_type.as_deref() {
        None => hmac(
            &secret,
            &body.nonce,
            &body.username,
            &body.password,
            body.admin,
        )
        .map_err(|error| Error::Internal(error.to_string()))?,
        Some(user_type) => hmac_with_type(&secret, body, user_type)?,
    };
    if !constant_time_equal(
        expected.as_bytes(),
        body.mac.to_ascii_lowercase().as_bytes(),
    ) {
        return Err(Error::Forbidden("HMAC incorrect".into()).into());
    }
    let users = &state.services.users;
    let user_id = validate_new_localpart(
        &body.username.to_lowercase(),
        state.services.rooms.server_name(),
    )?;
    users.check_username_available(user_id.localpart())?;
    if let Some(user_type) = body.user_type.as_deref()
        && !myelin_core::users::USER_TYPES.contains(&user_type)
    {
        return Err(Error::InvalidParam(format!("Invalid user type {user_type}")).into());
    }
    users
        .create_account(&user_id, Some(&body.password), body.admin, None)
        .await?;
    if let Some(user_type) = body.user_type.as_deref() {
        users.set_user_type(&user_id, Some(user_type)).await?;
    }
    if let Some(name) = body.displayname.as_deref().filter(|name| !name.is_empty()) {
        users
            .set_profile_field(
                &user_id,
                "displayname",
                Some(JsonValue::String(name.to_owned())),
            )
            .await?;
    }
    tracing::info!(%user_id, admin = body.admin, "account made by shared-secret registration");
    let session = users
        .open_session(SessionRequest {
            user_id: user_id.clone(),
            device_id: None,
            initial_display_name: None,
            refreshable: false,
            valid_until_ms: None,
            client_ip: request.client_ip.to_string(),
        })
        .await?;
    Ok(Json(json!({
        "access_token": session.access_token,
        "user_id": user_id,
        "home_server": state.services.rooms.server_name(),
        "device_id": session.device_id,
    })))
}

/// Synapse's MAC when a user type is given: the one without, then a NUL and the type.
fn hmac_with_type(
    secret: &str,
    body: &shared_secret_register::Request,
    user_type: &str,
) -> Result<String, ApiError> {
    use ::hmac::{KeyInit as _, Mac as _};
    let mut mac = ::hmac::Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes())
        .map_err(|error| Error::Internal(error.to_string()))?;
    for (index, part) in [
        body.nonce.as_bytes(),
        body.username.as_bytes(),
        body.password.as_bytes(),
        if body.admin { b"admin" } else { b"notadmin" },
        user_type.as_bytes(),
    ]
    .into_iter()
    .enumerate()
    {
        if index > 0 {
            mac.update(b"\x00");
        }
        mac.update(part);
    }
    Ok(hex::encode(mac.finalize().into_bytes()))
}

/// Compares two MACs without telling, by the time it takes, where they first differ.
fn constant_time_equal(left: &[u8], right: &[u8]) -> bool {
    left.len() == right.len()
        && left
            .iter()
            .zip(right)
            .fold(0u8, |difference, (a, b)| difference | (a ^ b))
            == 0
}
