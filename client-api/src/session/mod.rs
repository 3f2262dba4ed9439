//! Login sessions: login, logout, refresh, login tokens.
pub mod get_login_token;
pub mod get_login_types;
pub mod login;
pub mod logout;
pub mod logout_all;
pub mod refresh_token;
