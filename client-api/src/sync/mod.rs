//! `/sync`.
pub mod sync_events;
