//! Server administration from the client API: who a user is connected as (`whois`), and
//! locking or suspending local accounts (spec 1.18). Only server administrators (accounts
//! made with `myelin user create --admin`) may use them, except `whois` on oneself.

use axum::{Json, extract::State};
use myelin_core::{
    Error,
    users::{Identity, Restrictions},
};
use ruma::{
    UserId,
    api::client::admin::{
        get_user_info, is_user_locked, is_user_suspended, lock_user, suspend_user,
    },
};
use serde_json::{Map, Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma};

pub(crate) fn require_admin(state: &AppState, identity: &Identity) -> Result<(), ApiError> {
    let admin = state
        .services
        .users
        .account(&identity.user_id)?
        .is_some_and(|account| account.admin);
    if admin {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "Only server administrators may do this",
        ))
    }
}

/// The target must be an account of this server.
pub(crate) fn require_local(state: &AppState, user_id: &UserId) -> Result<(), ApiError> {
    let users = &state.services.users;
    if !users.is_local(user_id) {
        return Err(
            Error::InvalidParam("Only users of this server can be managed here".into()).into(),
        );
    }
    if users.account(user_id)?.is_none() {
        return Err(Error::NotFound("Unknown user".into()).into());
    }
    Ok(())
}

/// # `GET /_matrix/client/v3/admin/whois/{userId}`
///
/// Each device with the address and time it was last seen from (Myelin keeps the last
/// connection only, so each device has one session with one connection).
pub async fn whois(
    State(state): State<AppState>,
    request: Ruma<get_user_info::v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let user_id = &request.body.user_id;
    if identity.user_id != *user_id {
        require_admin(&state, identity)?;
    }
    require_local(&state, user_id)?;
    Ok(Json(whois_of(&state, user_id)?))
}

/// Each device of a local user with the address and time it was last seen from.
pub(crate) fn whois_of(state: &AppState, user_id: &UserId) -> Result<JsonValue, ApiError> {
    let mut devices = Map::new();
    for device in state.services.users.devices(user_id)? {
        let mut connection = json!({});
        if let Some(ip) = &device.last_seen_ip {
            connection["ip"] = ip.clone().into();
        }
        if let Some(seen) = device.last_seen_ts {
            connection["last_seen"] = seen.into();
        }
        if let Some(agent) = &device.last_seen_user_agent {
            connection["user_agent"] = agent.clone().into();
        }
        let connections = if connection.as_object().is_some_and(Map::is_empty) {
            Vec::new()
        } else {
            vec![connection]
        };
        devices.insert(
            device.device_id.to_string(),
            json!({ "sessions": [{ "connections": connections }] }),
        );
    }
    Ok(json!({ "user_id": user_id, "devices": devices }))
}

/// A local account's restrictions, for an administrator.
fn restrictions_of(
    state: &AppState,
    identity: &Identity,
    user_id: &UserId,
) -> Result<Restrictions, ApiError> {
    require_admin(state, identity)?;
    require_local(state, user_id)?;
    Ok(state.services.users.restrictions(user_id))
}

/// Changes a local account's restrictions, for an administrator; returns the new ones.
async fn change_restrictions(
    state: &AppState,
    identity: &Identity,
    user_id: &UserId,
    change: impl FnOnce(&mut Restrictions),
) -> Result<Restrictions, ApiError> {
    let mut restrictions = restrictions_of(state, identity, user_id)?;
    change(&mut restrictions);
    state
        .services
        .users
        .set_restrictions(user_id, restrictions)
        .await?;
    Ok(restrictions)
}

/// # `GET /_matrix/client/v1/admin/lock/{userId}`
pub async fn is_locked(
    State(state): State<AppState>,
    request: Ruma<is_user_locked::v1::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let restrictions = restrictions_of(&state, request.identity()?, &request.body.user_id)?;
    Ok(Json(json!({ "locked": restrictions.locked })))
}

/// # `PUT /_matrix/client/v1/admin/lock/{userId}`
pub async fn set_locked(
    State(state): State<AppState>,
    request: Ruma<lock_user::v1::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let locked = request.body.locked;
    let restrictions =
        change_restrictions(&state, request.identity()?, &request.body.user_id, |r| {
            r.locked = locked;
        })
        .await?;
    Ok(Json(json!({ "locked": restrictions.locked })))
}

/// # `GET /_matrix/client/v1/admin/suspend/{userId}`
pub async fn is_suspended(
    State(state): State<AppState>,
    request: Ruma<is_user_suspended::v1::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let restrictions = restrictions_of(&state, request.identity()?, &request.body.user_id)?;
    Ok(Json(json!({ "suspended": restrictions.suspended })))
}

/// # `PUT /_matrix/client/v1/admin/suspend/{userId}`
pub async fn set_suspended(
    State(state): State<AppState>,
    request: Ruma<suspend_user::v1::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let suspended = request.body.suspended;
    let restrictions =
        change_restrictions(&state, request.identity()?, &request.body.user_id, |r| {
            r.suspended = suspended;
        })
        .await?;
    Ok(Json(json!({ "suspended": restrictions.suspended })))
}
