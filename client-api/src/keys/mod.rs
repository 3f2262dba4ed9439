//! End-to-end encryption key endpoints: devices upload their keys; others query and claim them.
//! Keys of users on other servers need the federation key endpoints, which come with the rest of
//! the E2EE issue; until then those servers are reported under `failures`.
pub mod claim_keys;
pub mod get_key_changes;
pub mod get_keys;
pub mod upload_keys;
