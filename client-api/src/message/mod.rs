//! Message events: sending, history and redaction.
pub mod get_message_events;
pub mod redact_event;
pub mod send_message_event;
