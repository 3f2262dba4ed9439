//! `/sync`.
mod render;
pub mod sync_events;
