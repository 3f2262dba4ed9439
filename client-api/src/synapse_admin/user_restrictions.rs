//! A user's shadow-ban, own message rate, suspension and leave to replace their cross-signing
//! keys without authenticating, in Synapse's admin shapes (`docs/admin_api/user_admin_api.md`).

use axum::{Json, extract::State};
use myelin_core::{
    Error,
    users::{MessageRate, Restrictions},
};
use ruma::UserId;
use serde_json::{Value as JsonValue, json};

use super::{endpoints, local_account, require_admin};
use crate::{ApiError, AppState, Ruma};

/// Changes a local user's restrictions after the administrator check.
async fn change(
    state: &AppState,
    identity: &myelin_core::users::Identity,
    user_id: &UserId,
    apply: impl FnOnce(&mut Restrictions),
) -> Result<Restrictions, ApiError> {
    require_admin(state, identity)?;
    local_account(state, user_id)?;
    let users = &state.services.users;
    let mut restrictions = users.restrictions(user_id);
    apply(&mut restrictions);
    users.set_restrictions(user_id, restrictions).await?;
    Ok(restrictions)
}

/// # `POST /_synapse/admin/v1/users/{userId}/shadow_ban`
///
/// From now on what the user sends (messages, state, invites, typing, rooms created with
/// invites) seems to succeed and reaches nobody, as Synapse's shadow-ban does.
pub async fn shadow_ban(
    State(state): State<AppState>,
    request: Ruma<endpoints::shadow_ban::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    change(&state, request.identity()?, &request.body.user_id, |r| {
        r.shadow_banned = true;
    })
    .await?;
    Ok(Json(json!({})))
}

/// # `DELETE /_synapse/admin/v1/users/{userId}/shadow_ban`
pub async fn unshadow_ban(
    State(state): State<AppState>,
    request: Ruma<endpoints::unshadow_ban::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    change(&state, request.identity()?, &request.body.user_id, |r| {
        r.shadow_banned = false;
    })
    .await?;
    Ok(Json(json!({})))
}

fn rate_json(rate: Option<MessageRate>) -> JsonValue {
    match rate {
        Some(rate) => json!({
            "messages_per_second": rate.messages_per_second,
            "burst_count": rate.burst_count,
        }),
        None => json!({}),
    }
}

/// # `GET /_synapse/admin/v1/users/{userId}/override_ratelimit`
///
/// The user's own rate, or `{}` when the server's applies.
pub async fn get_ratelimit(
    State(state): State<AppState>,
    request: Ruma<endpoints::get_ratelimit::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let user_id = &request.body.user_id;
    local_account(&state, user_id)?;
    Ok(Json(rate_json(
        state.services.users.restrictions(user_id).message_rate,
    )))
}

/// A non-negative integer field of the body, 0 when absent (Synapse's defaults).
fn count(body: Option<&JsonValue>, field: &str) -> Result<u32, ApiError> {
    match body.and_then(|body| body.get(field)) {
        None | Some(JsonValue::Null) => Ok(0),
        Some(value) => value
            .as_u64()
            .and_then(|number| u32::try_from(number).ok())
            .ok_or_else(|| {
                Error::InvalidParam(format!("{field} must be a positive integer")).into()
            }),
    }
}

/// # `POST /_synapse/admin/v1/users/{userId}/override_ratelimit`
///
/// `messages_per_second` and `burst_count` (0 when left out; both 0 is no limit at all).
pub async fn set_ratelimit(
    State(state): State<AppState>,
    request: Ruma<endpoints::set_ratelimit::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let body = request.json.as_ref();
    let rate = MessageRate {
        messages_per_second: count(body, "messages_per_second")?,
        burst_count: count(body, "burst_count")?,
    };
    change(&state, request.identity()?, &request.body.user_id, |r| {
        r.message_rate = Some(rate);
    })
    .await?;
    Ok(Json(rate_json(Some(rate))))
}

/// # `DELETE /_synapse/admin/v1/users/{userId}/override_ratelimit`
pub async fn delete_ratelimit(
    State(state): State<AppState>,
    request: Ruma<endpoints::delete_ratelimit::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    change(&state, request.identity()?, &request.body.user_id, |r| {
        r.message_rate = None;
    })
    .await?;
    Ok(Json(json!({})))
}

/// # `PUT /_synapse/admin/v1/suspend/{userId}`
///
/// Synapse's way to the spec's suspension: `{"suspend": true|false}`, answered with
/// `{"user_{userId}_suspended": …}`.
pub async fn suspend(
    State(state): State<AppState>,
    request: Ruma<endpoints::suspend_user::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let suspend = request
        .json
        .as_ref()
        .and_then(|body| body.get("suspend"))
        .and_then(JsonValue::as_bool)
        .ok_or_else(|| Error::MissingParam("suspend must be true or false".into()))?;
    let user_id = &request.body.user_id;
    change(&state, request.identity()?, user_id, |r| {
        r.suspended = suspend;
    })
    .await?;
    Ok(Json(
        json!({ format!("user_{user_id}_suspended"): suspend }),
    ))
}

/// How long the grant lasts (Synapse's ten minutes).
const REPLACEMENT_WINDOW_MS: u64 = 10 * 60 * 1000;

/// # `POST /_synapse/admin/v1/users/{userId}/_allow_cross_signing_replacement_without_uia`
///
/// For the next ten minutes the user may replace their cross-signing keys without
/// authenticating again; answers `updatable_without_uia_before_ms`.
pub async fn allow_cross_signing_replacement(
    State(state): State<AppState>,
    request: Ruma<endpoints::allow_cross_signing_replacement::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let user_id = &request.body.user_id;
    local_account(&state, user_id)?;
    let until = state
        .services
        .users
        .allow_cross_signing_replacement(user_id, REPLACEMENT_WINDOW_MS)
        .await?;
    Ok(Json(json!({ "updatable_without_uia_before_ms": until })))
}
