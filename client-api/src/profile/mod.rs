//! Profiles.
pub mod delete_profile_field;
pub mod get_profile;
pub mod get_profile_field;
pub mod set_profile_field;
