//! The core's error type: what went wrong, in terms of meaning, never of HTTP.
//!
//! Each HTTP crate maps these variants to a Matrix `errcode` and status in exactly one function.

use serde_json::Value as JsonValue;

/// Result alias used across the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the core can refuse or fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    /// A delayed event's delay is longer than the server allows (ms), MSC4140.
    #[error("The delay is longer than the {0} ms this server allows")]
    MaxDelayExceeded(u64),
    /// The invitee does not take invites from the inviter (spec v1.18 `M_INVITE_BLOCKED`).
    #[error("{0}")]
    InviteBlocked(String),
    #[error("{0}")]
    InvalidParam(String),
    #[error("{0}")]
    MissingParam(String),
    #[error("{0}")]
    BadJson(String),
    #[error("{0}")]
    TooLarge(String),
    /// A limit of the user's own account is reached, such as their media quota
    /// (spec v1.17 `M_USER_LIMIT_EXCEEDED`); `info_uri` tells the user more.
    #[error("{message}")]
    UserLimitExceeded { message: String, info_uri: String },
    #[error("Missing access token")]
    MissingToken,
    #[error("Unknown access token")]
    UnknownToken { soft_logout: bool },
    #[error("This account has been deactivated")]
    UserDeactivated,
    #[error("This account is locked")]
    UserLocked,
    #[error("This account is suspended")]
    UserSuspended,
    #[error("{0}")]
    UserInUse(String),
    #[error("{0}")]
    InvalidUsername(String),
    #[error("{0}")]
    Exclusive(String),
    #[error("{0}")]
    WeakPassword(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    KeyTooLarge(String),
    #[error("{0}")]
    ProfileTooLarge(String),
    #[error("Guest access is disabled on this server")]
    GuestAccessForbidden,
    #[error("Too many requests")]
    LimitExceeded { retry_after_ms: u64 },
    /// User-interactive authentication is needed (or a stage failed); the payload is the
    /// spec's UIA response body (`flows`, `params`, `session`, `completed`).
    #[error("User-interactive authentication required")]
    Uia {
        info: JsonValue,
        stage_error: Option<Box<Error>>,
    },
    #[error("{0}")]
    Unsupported(String),
    /// A signature does not verify (cross-signing uploads, signed keys).
    #[error("{0}")]
    InvalidSignature(String),
    /// An asynchronous upload's media id already has content.
    #[error("This media already has content")]
    CannotOverwriteMedia,
    /// The media id was created but its content not uploaded yet.
    #[error("The media has not been uploaded yet")]
    MediaNotYetUploaded,
    /// A key backup write names a backup version that is not the current one.
    #[error("Wrong backup version")]
    WrongRoomKeysVersion { current_version: Option<String> },
    #[error("{0}")]
    UnsupportedRoomVersion(String),
    #[error("{0}")]
    RoomInUse(String),
    #[error("{0}")]
    DuplicateAnnotation(String),
    /// The request is well-formed but the server's state does not allow it now.
    #[error("{0}")]
    BadState(String),
    /// Another server could not be reached or gave no usable answer.
    #[error("{0}")]
    Unavailable(String),
    #[error("storage error: {0}")]
    Storage(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Wraps any storage-layer failure.
    pub fn storage(error: impl std::fmt::Display) -> Self {
        Error::Storage(error.to_string())
    }
}
