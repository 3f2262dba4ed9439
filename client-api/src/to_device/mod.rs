//! Send-to-device messaging.
pub mod send_event_to_device;
