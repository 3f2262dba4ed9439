//! Password hashing with argon2id, off the async runtime.

use argon2::{
    Argon2,
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng},
};

use tokio::sync::Semaphore;

use crate::error::{Error, Result};

/// Each hash takes 19 MiB and a core for tens of milliseconds; running more at once than there
/// are cores only adds memory and latency.
pub(super) fn hashing_slots() -> Semaphore {
    Semaphore::new(std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get))
}

/// Longest password accepted; argon2 would take anything, this bounds the work per request.
pub const MAX_PASSWORD_BYTES: usize = 512;

pub(super) async fn hash_password(password: String, slots: &Semaphore) -> Result<String> {
    let _slot = slots
        .acquire()
        .await
        .map_err(|_| Error::Internal("hashing closed".into()))?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|error| Error::Internal(format!("hashing a password failed: {error}")))
    })
    .await
    .map_err(|error| Error::Internal(format!("password hashing task failed: {error}")))?
}

/// Constant-time verification (argon2's comparison of the derived hashes).
pub(super) async fn verify_password(
    password: String,
    stored_hash: String,
    slots: &Semaphore,
) -> Result<bool> {
    let _slot = slots
        .acquire()
        .await
        .map_err(|_| Error::Internal("hashing closed".into()))?;
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&stored_hash).map_err(|error| {
            Error::Storage(format!("stored password hash is unreadable: {error}"))
        })?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .map_err(|error| Error::Internal(format!("password verification task failed: {error}")))?
}
