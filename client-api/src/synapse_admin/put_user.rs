//! `PUT /_synapse/admin/v2/users/{userId}`: creates an account or changes one.

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use myelin_core::Error;
use serde_json::Value as JsonValue;
use synapse_admin_api::users::create_or_modify::v2;

use super::{deactivate::deactivate_everywhere, require_admin, user_details};
use crate::{ApiError, AppState, Ruma};

/// # `PUT /_synapse/admin/v2/users/{userId}`
///
/// `201` with the new account, or `200` with the changed one, as Synapse answers. A deactivated
/// account comes back with `deactivated: false` and a new password. `user_type` is `bot`,
/// `support` or null. Third-party ids and
/// external ids are refused: Myelin keeps none.
pub async fn put_user(
    State(state): State<AppState>,
    request: Ruma<v2::Request>,
) -> Result<Response, ApiError> {
    require_admin(&state, request.identity()?)?;
    let body = &request.body;
    let user_id = &body.user_id;
    let users = &state.services.users;
    if !users.is_local(user_id) {
        return Err(
            Error::InvalidParam("This endpoint can only be used with local users".into()).into(),
        );
    }
    if body.threepids.as_ref().is_some_and(|ids| !ids.is_empty())
        || body
            .external_ids
            .as_ref()
            .is_some_and(|ids| !ids.is_empty())
    {
        return Err(
            Error::InvalidParam("This server keeps no third-party or external ids".into()).into(),
        );
    }
    // `user_type` is not in synapse-admin-api's type: read from the body (null clears it),
    // checked before anything changes.
    let user_type_change = match request.json.as_ref().and_then(|json| json.get("user_type")) {
        None => None,
        Some(JsonValue::Null) => Some(None),
        Some(JsonValue::String(kind))
            if myelin_core::users::USER_TYPES.contains(&kind.as_str()) =>
        {
            Some(Some(kind.as_str()))
        }
        Some(other) => {
            return Err(Error::InvalidParam(format!("Invalid user type {other}")).into());
        }
    };
    let existing = users.account(user_id)?;
    let created = existing.is_none();
    match &existing {
        None => {
            myelin_core::users::validate_new_localpart(
                user_id.localpart(),
                state.services.rooms.server_name(),
            )?;
            users
                .create_account(
                    user_id,
                    body.password.as_deref(),
                    body.admin.unwrap_or(false),
                    None,
                )
                .await?;
            if body.deactivated == Some(true) {
                deactivate_everywhere(&state, user_id).await?;
            }
        }
        Some(record) => {
            match (record.deactivated, body.deactivated) {
                (true, Some(false)) => {
                    let Some(password) = body.password.as_deref() else {
                        return Err(Error::InvalidParam(
                            "Must provide a password to re-activate an account".into(),
                        )
                        .into());
                    };
                    users.reactivate(user_id, password).await?;
                }
                (false, Some(true)) => deactivate_everywhere(&state, user_id).await?,
                _ => {
                    if let Some(password) = body.password.as_deref() {
                        users.set_password(user_id, password, true, None).await?;
                    }
                }
            }
            if let Some(admin) = body.admin {
                users.set_admin(user_id, admin).await?;
            }
        }
    }
    let deactivated = users
        .account(user_id)?
        .is_some_and(|record| record.deactivated);
    if !deactivated {
        for (field, value) in [
            ("displayname", &body.displayname),
            ("avatar_url", &body.avatar_url),
        ] {
            if let Some(value) = value {
                users
                    .set_profile_field(user_id, field, Some(JsonValue::String(value.clone())))
                    .await?;
                crate::profile::propagate_to_rooms(&state, user_id, field).await;
            }
        }
    }
    if let Some(user_type) = user_type_change {
        users.set_user_type(user_id, user_type).await?;
    }
    if let Some(locked) = body.locked {
        let mut restrictions = users.restrictions(user_id);
        restrictions.locked = locked;
        users.set_restrictions(user_id, restrictions).await?;
    }
    let record = users
        .account(user_id)?
        .ok_or_else(|| Error::Internal("the account just written is gone".into()))?;
    let details = user_details(&state, user_id, &record)?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(details)).into_response())
}
