//! Account data, global and per room.
pub mod delete;
pub mod get_global_account_data;
pub mod get_room_account_data;
pub mod set_global_account_data;
pub mod set_room_account_data;
pub mod tags;

use axum::http::StatusCode;
use myelin_core::users::Identity;
use ruma::UserId;
use serde_json::Value as JsonValue;

use crate::ApiError;

pub(crate) fn require_own(identity: &Identity, user_id: &UserId) -> Result<(), ApiError> {
    if identity.user_id == user_id {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "Cannot access account data of other users",
        ))
    }
}

/// Types the server manages through their own endpoints are refused with 405 `M_BAD_JSON`, as
/// the spec says (`m.fully_read` via read markers, `m.push_rules` via the push rules API).
pub(crate) fn require_settable(event_type: &str) -> Result<(), ApiError> {
    if matches!(event_type, "m.fully_read" | "m.push_rules") {
        return Err(ApiError::http(
            StatusCode::METHOD_NOT_ALLOWED,
            "M_BAD_JSON",
            format!("Cannot set {event_type} through this API"),
        ));
    }
    Ok(())
}

/// The request body as sent: account data content is any JSON object.
pub(crate) fn content(json: Option<JsonValue>) -> Result<JsonValue, ApiError> {
    match json {
        Some(value @ JsonValue::Object(_)) => Ok(value),
        _ => Err(ApiError::bad_json(
            "Account data content must be a JSON object",
        )),
    }
}
