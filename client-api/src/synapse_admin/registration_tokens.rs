//! Registration tokens, for administrators: `GET /_synapse/admin/v1/registration_tokens`,
//! `POST …/new`, and `GET`/`PUT`/`DELETE …/{token}`, in Synapse's shapes.

use axum::{Json, extract::State};
use myelin_core::{Error, clock::now_ms, users::RegistrationToken};
use serde_json::{Value as JsonValue, json};

use super::{endpoints, require_admin};
use crate::{ApiError, AppState, Ruma};

fn token_json(token: &RegistrationToken) -> JsonValue {
    json!({
        "token": token.token,
        "uses_allowed": token.uses_allowed,
        // Myelin consumes a use in the registration itself: none is ever pending.
        "pending": 0,
        "completed": token.completed,
        "expiry_time": token.expiry_time,
    })
}

fn valid(token: &RegistrationToken, now: u64) -> bool {
    token
        .uses_allowed
        .is_none_or(|allowed| token.completed < allowed)
        && token.expiry_time.is_none_or(|expiry| expiry > now)
}

/// # `GET /_synapse/admin/v1/registration_tokens`
///
/// `valid=true` lists those still usable, `valid=false` those used up or expired.
pub async fn list(
    State(state): State<AppState>,
    request: Ruma<endpoints::list_registration_tokens::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let now = now_ms();
    let tokens: Vec<JsonValue> = state
        .services
        .users
        .registration_tokens()?
        .iter()
        .filter(|token| {
            request
                .body
                .valid
                .is_none_or(|wanted| valid(token, now) == wanted)
        })
        .map(token_json)
        .collect();
    Ok(Json(json!({ "registration_tokens": tokens })))
}

/// # `POST /_synapse/admin/v1/registration_tokens/new`
pub async fn create(
    State(state): State<AppState>,
    request: Ruma<endpoints::create_registration_token::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let body = &request.body;
    if body.expiry_time.is_some_and(|expiry| expiry < now_ms()) {
        return Err(Error::InvalidParam("expiry_time must not be in the past".into()).into());
    }
    let users = &state.services.users;
    let token = match (&body.token, body.length) {
        (Some(token), _) => {
            users
                .create_named_registration_token(token, body.uses_allowed, body.expiry_time)
                .await?
        }
        (None, length) => {
            let length = length.unwrap_or(16);
            if !(1..=64).contains(&length) {
                return Err(Error::InvalidParam(
                    "length must be an integer between 1 and 64".into(),
                )
                .into());
            }
            let token = myelin_core::ids::random_string(length);
            users
                .create_named_registration_token(&token, body.uses_allowed, body.expiry_time)
                .await?
        }
    };
    Ok(Json(token_json(&token)))
}

/// # `GET /_synapse/admin/v1/registration_tokens/{token}`
pub async fn get(
    State(state): State<AppState>,
    request: Ruma<endpoints::get_registration_token::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let token = state
        .services
        .users
        .registration_token(&request.body.token)?
        .ok_or_else(|| {
            Error::NotFound(format!(
                "No such registration token: {}",
                request.body.token
            ))
        })?;
    Ok(Json(token_json(&token)))
}

/// # `PUT /_synapse/admin/v1/registration_tokens/{token}`
///
/// A key left out keeps its value; `null` lifts the limit (read from the body as sent, since a
/// decoded `Option` cannot tell the two apart).
pub async fn update(
    State(state): State<AppState>,
    request: Ruma<endpoints::update_registration_token::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let body = request.json.clone().unwrap_or_default();
    let field = |name: &str| -> Result<Option<Option<u64>>, ApiError> {
        match body.get(name) {
            None => Ok(None),
            Some(JsonValue::Null) => Ok(Some(None)),
            Some(value) => value
                .as_u64()
                .map(|number| Some(Some(number)))
                .ok_or_else(|| {
                    Error::InvalidParam(format!("{name} must be a non-negative integer or null"))
                        .into()
                }),
        }
    };
    let uses_allowed = field("uses_allowed")?
        .map(|limit| limit.map(|uses| u32::try_from(uses).unwrap_or(u32::MAX)));
    let expiry_time = field("expiry_time")?;
    if expiry_time
        .flatten()
        .is_some_and(|expiry| expiry < now_ms())
    {
        return Err(Error::InvalidParam("expiry_time must not be in the past".into()).into());
    }
    let token = state
        .services
        .users
        .update_registration_token(&request.body.token, uses_allowed, expiry_time)
        .await?;
    Ok(Json(token_json(&token)))
}

/// # `DELETE /_synapse/admin/v1/registration_tokens/{token}`
pub async fn delete(
    State(state): State<AppState>,
    request: Ruma<endpoints::delete_registration_token::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    state
        .services
        .users
        .delete_registration_token(&request.body.token)
        .await?;
    Ok(Json(json!({})))
}
