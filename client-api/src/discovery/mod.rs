//! Discovery: versions, capabilities and the `.well-known` documents.
pub mod capabilities;
pub mod versions;
pub mod well_known_client;
pub mod well_known_server;
