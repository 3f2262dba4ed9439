//! The one place where core errors and request-decoding failures become Matrix error responses.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use myelin_core::Error;
use serde_json::{Value as JsonValue, json};

/// An error on its way to the client.
#[derive(Debug)]
pub enum ApiError {
    Core(Error),
    /// Failures before the core is reached: unknown endpoints, unparsable bodies.
    Http {
        status: StatusCode,
        errcode: &'static str,
        message: String,
    },
}

impl ApiError {
    pub fn http(status: StatusCode, errcode: &'static str, message: impl Into<String>) -> Self {
        ApiError::Http {
            status,
            errcode,
            message: message.into(),
        }
    }

    pub fn not_json(message: impl Into<String>) -> Self {
        Self::http(StatusCode::BAD_REQUEST, "M_NOT_JSON", message)
    }

    pub fn bad_json(message: impl Into<String>) -> Self {
        Self::http(StatusCode::BAD_REQUEST, "M_BAD_JSON", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::Core(Error::Forbidden(message.into()))
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        ApiError::Core(error)
    }
}

/// Status and errcode for a core error.
/// The Matrix errcode of a core error (for errors reported inside a successful response).
pub fn errcode_of(error: &Error) -> &'static str {
    classify(error).1
}

fn classify(error: &Error) -> (StatusCode, &'static str) {
    match error {
        Error::NotFound(_) => (StatusCode::NOT_FOUND, "M_NOT_FOUND"),
        Error::Forbidden(_) => (StatusCode::FORBIDDEN, "M_FORBIDDEN"),
        Error::InviteBlocked(_) => (StatusCode::FORBIDDEN, "M_INVITE_BLOCKED"),
        Error::MaxDelayExceeded(_) => (StatusCode::BAD_REQUEST, "M_MAX_DELAY_EXCEEDED"),
        Error::InvalidParam(_) => (StatusCode::BAD_REQUEST, "M_INVALID_PARAM"),
        Error::MissingParam(_) => (StatusCode::BAD_REQUEST, "M_MISSING_PARAM"),
        Error::BadJson(_) => (StatusCode::BAD_REQUEST, "M_BAD_JSON"),
        Error::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "M_TOO_LARGE"),
        // 403, as MSC4335 suggests for a storage quota on upload.
        Error::UserLimitExceeded { .. } => (StatusCode::FORBIDDEN, "M_USER_LIMIT_EXCEEDED"),
        Error::MissingToken => (StatusCode::UNAUTHORIZED, "M_MISSING_TOKEN"),
        Error::UnknownToken { .. } => (StatusCode::UNAUTHORIZED, "M_UNKNOWN_TOKEN"),
        Error::UserDeactivated => (StatusCode::FORBIDDEN, "M_USER_DEACTIVATED"),
        Error::UserLocked => (StatusCode::UNAUTHORIZED, "M_USER_LOCKED"),
        Error::UserSuspended => (StatusCode::FORBIDDEN, "M_USER_SUSPENDED"),
        Error::UserInUse(_) => (StatusCode::BAD_REQUEST, "M_USER_IN_USE"),
        Error::InvalidUsername(_) => (StatusCode::BAD_REQUEST, "M_INVALID_USERNAME"),
        Error::Exclusive(_) => (StatusCode::BAD_REQUEST, "M_EXCLUSIVE"),
        Error::WeakPassword(_) => (StatusCode::BAD_REQUEST, "M_WEAK_PASSWORD"),
        Error::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "M_UNAUTHORIZED"),
        Error::KeyTooLarge(_) => (StatusCode::BAD_REQUEST, "M_KEY_TOO_LARGE"),
        Error::ProfileTooLarge(_) => (StatusCode::BAD_REQUEST, "M_PROFILE_TOO_LARGE"),
        Error::GuestAccessForbidden => (StatusCode::FORBIDDEN, "M_GUEST_ACCESS_FORBIDDEN"),
        Error::LimitExceeded { .. } => (StatusCode::TOO_MANY_REQUESTS, "M_LIMIT_EXCEEDED"),
        Error::Uia { .. } => (StatusCode::UNAUTHORIZED, "M_FORBIDDEN"),
        Error::Unsupported(_) => (StatusCode::BAD_REQUEST, "M_UNRECOGNIZED"),
        Error::CannotOverwriteMedia => (StatusCode::CONFLICT, "M_CANNOT_OVERWRITE_MEDIA"),
        Error::MediaNotYetUploaded => (StatusCode::GATEWAY_TIMEOUT, "M_NOT_YET_UPLOADED"),
        Error::InvalidSignature(_) => (StatusCode::BAD_REQUEST, "M_INVALID_SIGNATURE"),
        Error::WrongRoomKeysVersion { .. } => (StatusCode::FORBIDDEN, "M_WRONG_ROOM_KEYS_VERSION"),
        Error::UnsupportedRoomVersion(_) => (StatusCode::BAD_REQUEST, "M_UNSUPPORTED_ROOM_VERSION"),
        Error::RoomInUse(_) => (StatusCode::BAD_REQUEST, "M_ROOM_IN_USE"),
        Error::DuplicateAnnotation(_) => (StatusCode::BAD_REQUEST, "M_DUPLICATE_ANNOTATION"),
        Error::BadState(_) => (StatusCode::BAD_REQUEST, "M_UNKNOWN"),
        Error::Unavailable(_) => (StatusCode::BAD_GATEWAY, "M_UNKNOWN"),
        Error::Storage(_) | Error::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "M_UNKNOWN"),
    }
}

fn body(errcode: &str, message: &str) -> JsonValue {
    json!({ "errcode": errcode, "error": message })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let error = match self {
            ApiError::Http {
                status,
                errcode,
                message,
            } => return (status, Json(body(errcode, &message))).into_response(),
            ApiError::Core(error) => error,
        };
        let (status, errcode) = classify(&error);
        match error {
            Error::Uia {
                mut info,
                stage_error,
            } => {
                // A failed stage adds its errcode to the UIA body (spec: user-interactive auth).
                if let (Some(stage_error), Some(object)) = (stage_error, info.as_object_mut()) {
                    let (_, stage_code) = classify(&stage_error);
                    object.insert("errcode".into(), stage_code.into());
                    object.insert("error".into(), stage_error.to_string().into());
                }
                (status, Json(info)).into_response()
            }
            // Clients keep a locked user's session (soft logout) until the lock is lifted.
            Error::UserLocked => {
                let mut payload = body(errcode, &error.to_string());
                payload["soft_logout"] = true.into();
                (status, Json(payload)).into_response()
            }
            // Myelin's limits are set by the admin: none can be raised by the user.
            Error::UserLimitExceeded { ref info_uri, .. } => {
                let mut payload = body(errcode, &error.to_string());
                payload["info_uri"] = info_uri.as_str().into();
                payload["can_upgrade"] = false.into();
                (status, Json(payload)).into_response()
            }
            Error::UnknownToken { soft_logout } => {
                let mut payload = body(errcode, &error.to_string());
                payload["soft_logout"] = soft_logout.into();
                (status, Json(payload)).into_response()
            }
            Error::LimitExceeded { retry_after_ms } => {
                let mut payload = body(errcode, &error.to_string());
                payload["retry_after_ms"] = retry_after_ms.into();
                let mut response = (status, Json(payload)).into_response();
                let seconds = retry_after_ms.div_ceil(1000).max(1);
                if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
                response
            }
            Error::WrongRoomKeysVersion { current_version } => {
                let mut payload = body(errcode, "Wrong backup version");
                payload["current_version"] = current_version.into();
                (status, Json(payload)).into_response()
            }
            Error::Storage(_) | Error::Internal(_) => {
                tracing::error!(%error, "request failed");
                (status, Json(body(errcode, "Internal server error"))).into_response()
            }
            other => (status, Json(body(errcode, &other.to_string()))).into_response(),
        }
    }
}

/// `404 M_UNRECOGNIZED` for paths no endpoint serves.
pub async fn unknown_endpoint() -> ApiError {
    ApiError::http(
        StatusCode::NOT_FOUND,
        "M_UNRECOGNIZED",
        "Unrecognized request",
    )
}

/// `405 M_UNRECOGNIZED` for known paths with the wrong method.
pub async fn wrong_method() -> ApiError {
    ApiError::http(
        StatusCode::METHOD_NOT_ALLOWED,
        "M_UNRECOGNIZED",
        "Unrecognized request method",
    )
}
