//! Account endpoints: registration, whoami, password, deactivation.
pub mod change_password;
pub mod check_registration_token_validity;
pub mod deactivate;
pub mod get_username_availability;
pub mod register;
pub mod request_openid_token;
pub mod threepids;
pub mod whoami;
