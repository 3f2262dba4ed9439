//! Profiles.
pub mod delete_profile_field;
pub mod get_profile;
pub mod get_profile_field;
pub mod set_profile_field;

use myelin_core::Error;
use ruma::UserId;

use crate::{ApiError, AppState};

/// Profiles of users on other servers come with federation; until then they are not found.
pub(crate) fn require_local(state: &AppState, user_id: &UserId) -> Result<(), ApiError> {
    if state.services.users.is_local(user_id) {
        Ok(())
    } else {
        Err(Error::NotFound("Profile was not found".into()).into())
    }
}
