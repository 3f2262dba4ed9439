//! Device management.
pub mod delete_device;
pub mod delete_devices;
pub mod get_device;
pub mod get_devices;
pub mod update_device;

use myelin_core::users::DeviceInfo;
use ruma::{MilliSecondsSinceUnixEpoch, UInt, api::client::device::Device};

/// A device as Synapse answers `/devices`: the spec's fields and `last_seen_user_agent`, which
/// Element's session manager reads to tell clients and browsers apart.
pub(crate) fn device_json(device: DeviceInfo) -> serde_json::Value {
    let user_agent = device.last_seen_user_agent.clone();
    let mut json = serde_json::to_value(to_ruma(device)).unwrap_or_default();
    if let Some(object) = json.as_object_mut() {
        object.insert("last_seen_user_agent".into(), user_agent.into());
    }
    json
}

pub(crate) fn to_ruma(device: DeviceInfo) -> Device {
    let mut out = Device::new(device.device_id);
    out.display_name = device.display_name;
    out.last_seen_ip = device.last_seen_ip;
    out.last_seen_ts = device
        .last_seen_ts
        .and_then(UInt::new)
        .map(MilliSecondsSinceUnixEpoch);
    out
}
