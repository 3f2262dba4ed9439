//! Endpoints for application services themselves.
pub mod request_ping;
