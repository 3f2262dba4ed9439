//! Third-party identifiers: `GET /_matrix/client/v3/account/3pid`, the `requestToken`
//! endpoints, and `POST /account/3pid/{add,bind,delete,unbind}`.
//!
//! Myelin sends no email or text messages and talks to no identity server, so no account has
//! third-party identifiers and none can be validated. Each endpoint says so in the shape the
//! spec gives it, instead of `404 M_UNRECOGNIZED`, so that clients' settings pages show the
//! feature as unavailable rather than broken.

use axum::Json;
use http::StatusCode;
use ruma::api::client::account::{
    add_3pid, bind_3pid, delete_3pid, get_3pids, request_3pid_management_token_via_email,
    request_3pid_management_token_via_msisdn, request_password_change_token_via_email,
    request_password_change_token_via_msisdn, request_registration_token_via_email,
    request_registration_token_via_msisdn, unbind_3pid,
};
use serde_json::{Value as JsonValue, json};

use crate::{ApiError, Ruma};

/// # `GET /_matrix/client/v3/account/3pid`
pub async fn get_3pids(request: Ruma<get_3pids::v3::Request>) -> Result<Json<JsonValue>, ApiError> {
    request.identity()?;
    Ok(Json(json!({ "threepids": [] })))
}

/// The answer of every `requestToken` endpoint: `400 M_THREEPID_MEDIUM_NOT_SUPPORTED`, the code
/// spec v1.13 (MSC4178) gives a server that does not support the medium.
fn medium_not_supported(medium: &str) -> ApiError {
    ApiError::http(
        StatusCode::BAD_REQUEST,
        "M_THREEPID_MEDIUM_NOT_SUPPORTED",
        format!("This server cannot validate {medium}: it sends no {medium} messages"),
    )
}

/// # `POST /_matrix/client/v3/register/email/requestToken`
pub async fn registration_email_token(
    _request: Ruma<request_registration_token_via_email::v3::Request>,
) -> ApiError {
    medium_not_supported("email")
}

/// # `POST /_matrix/client/v3/register/msisdn/requestToken`
pub async fn registration_msisdn_token(
    _request: Ruma<request_registration_token_via_msisdn::v3::Request>,
) -> ApiError {
    medium_not_supported("phone")
}

/// # `POST /_matrix/client/v3/account/password/email/requestToken`
pub async fn password_email_token(
    _request: Ruma<request_password_change_token_via_email::v3::Request>,
) -> ApiError {
    medium_not_supported("email")
}

/// # `POST /_matrix/client/v3/account/password/msisdn/requestToken`
pub async fn password_msisdn_token(
    _request: Ruma<request_password_change_token_via_msisdn::v3::Request>,
) -> ApiError {
    medium_not_supported("phone")
}

/// # `POST /_matrix/client/v3/account/3pid/email/requestToken`
pub async fn add_email_token(
    _request: Ruma<request_3pid_management_token_via_email::v3::Request>,
) -> ApiError {
    medium_not_supported("email")
}

/// # `POST /_matrix/client/v3/account/3pid/msisdn/requestToken`
pub async fn add_msisdn_token(
    _request: Ruma<request_3pid_management_token_via_msisdn::v3::Request>,
) -> ApiError {
    medium_not_supported("phone")
}

/// # `POST /_matrix/client/v3/account/3pid/add`
///
/// No validation session can exist, so the one named is never validated: Synapse's answer for
/// a session it has not seen validated, `400 M_THREEPID_AUTH_FAILED`.
pub async fn add_3pid(request: Ruma<add_3pid::v3::Request>) -> Result<Json<JsonValue>, ApiError> {
    request.identity()?;
    Err(ApiError::http(
        StatusCode::BAD_REQUEST,
        "M_THREEPID_AUTH_FAILED",
        "No validated third-party identifier session found: this server validates none",
    ))
}

/// # `POST /_matrix/client/v3/account/3pid/bind`
///
/// Binding is done by the identity server on the homeserver's behalf; Myelin contacts none, so
/// the session cannot have been validated for it either.
pub async fn bind_3pid(request: Ruma<bind_3pid::v3::Request>) -> Result<Json<JsonValue>, ApiError> {
    request.identity()?;
    Err(ApiError::http(
        StatusCode::BAD_REQUEST,
        "M_THREEPID_AUTH_FAILED",
        "This server does not bind third-party identifiers at identity servers",
    ))
}

/// # `POST /_matrix/client/v3/account/3pid/delete`
///
/// The account has no such identifier, so nothing is removed and no identity server is asked:
/// `id_server_unbind_result: "no-support"`, as Synapse answers when it knows no identity server
/// for the identifier.
pub async fn delete_3pid(
    request: Ruma<delete_3pid::v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    request.identity()?;
    Ok(Json(json!({ "id_server_unbind_result": "no-support" })))
}

/// # `POST /_matrix/client/v3/account/3pid/unbind`
pub async fn unbind_3pid(
    request: Ruma<unbind_3pid::v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    request.identity()?;
    Ok(Json(json!({ "id_server_unbind_result": "no-support" })))
}
