//! Core errors as federation error responses (`{"errcode","error"}` with the Matrix status).

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use myelin_core::Error;
use serde_json::json;

/// An error on its way to another server.
#[derive(Debug)]
pub struct FedError(pub Error);

impl From<Error> for FedError {
    fn from(error: Error) -> Self {
        Self(error)
    }
}

impl IntoResponse for FedError {
    fn into_response(self) -> Response {
        let (status, errcode) = match &self.0 {
            Error::NotFound(_) => (StatusCode::NOT_FOUND, "M_NOT_FOUND"),
            Error::Forbidden(_) => (StatusCode::FORBIDDEN, "M_FORBIDDEN"),
            Error::InviteBlocked(_) => (StatusCode::FORBIDDEN, "M_INVITE_BLOCKED"),
            // Only `openid/userinfo` takes a token on this listener (spec: M_UNKNOWN_TOKEN).
            Error::UnknownToken { .. } => (StatusCode::UNAUTHORIZED, "M_UNKNOWN_TOKEN"),
            Error::Unauthorized(_) | Error::MissingToken => {
                (StatusCode::UNAUTHORIZED, "M_UNAUTHORIZED")
            }
            Error::InvalidParam(_) => (StatusCode::BAD_REQUEST, "M_INVALID_PARAM"),
            Error::MissingParam(_) => (StatusCode::BAD_REQUEST, "M_MISSING_PARAM"),
            Error::BadJson(_) => (StatusCode::BAD_REQUEST, "M_BAD_JSON"),
            Error::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "M_TOO_LARGE"),
            Error::LimitExceeded { .. } => (StatusCode::TOO_MANY_REQUESTS, "M_LIMIT_EXCEEDED"),
            Error::UnsupportedRoomVersion(_) => {
                (StatusCode::BAD_REQUEST, "M_INCOMPATIBLE_ROOM_VERSION")
            }
            Error::Unsupported(_) => (StatusCode::BAD_REQUEST, "M_UNRECOGNIZED"),
            Error::Unavailable(_) => (StatusCode::BAD_GATEWAY, "M_UNKNOWN"),
            Error::Storage(_) | Error::Internal(_) => {
                tracing::error!(error = %self.0, "federation request failed");
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(json!({ "errcode": "M_UNKNOWN", "error": "Internal server error" })),
                )
                    .into_response();
            }
            _ => (StatusCode::BAD_REQUEST, "M_UNKNOWN"),
        };
        (
            status,
            Json(json!({ "errcode": errcode, "error": self.0.to_string() })),
        )
            .into_response()
    }
}

pub type FedResult<T> = Result<T, FedError>;
