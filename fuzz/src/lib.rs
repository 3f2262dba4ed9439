//! The bodies of Myelin's fuzz targets (`fuzz_targets/` only wraps them), kept in a library so
//! the seed generator and a replay of `regressions/` can call them outside libFuzzer too.
//!
//! Every target must return normally on any input: a panic, an abort or a libFuzzer limit (time,
//! memory) is a finding.

pub mod canonical_json;
pub mod client_request;
pub mod keys;
pub mod pdu;
pub mod thumbnail;
pub mod xmatrix;

/// Whether `MYELIN_FUZZ_DEBUG` is set: the targets then print what their checks concluded, to
/// see which seeds reach the accepting paths (`cargo fuzz run pdu corpus/pdu -- -runs=0`).
pub fn debug() -> bool {
    static DEBUG: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DEBUG.get_or_init(|| std::env::var_os("MYELIN_FUZZ_DEBUG").is_some())
}

/// The crate items `client-api/src/filtering.rs` names: that module is private to its crate, so
/// the file is compiled here as it is, against these.
pub use myelin_client_api::ApiError;

/// Stand-in for `myelin_client_api::AppState` (`filtering::ignored_users` reads its services).
#[allow(dead_code)]
pub struct AppState {
    pub services: myelin_core::Services,
}

#[allow(dead_code, unreachable_pub)]
#[path = "../../client-api/src/filtering.rs"]
pub mod filtering;
