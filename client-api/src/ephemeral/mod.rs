//! Typing notifications, receipts and read markers.
pub mod create_receipt;
pub mod create_typing_event;
pub mod set_read_marker;
