//! Filters.
pub mod create_filter;
pub mod get_filter;
