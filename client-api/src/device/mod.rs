//! Device management.
pub mod delete_device;
pub mod delete_devices;
pub mod get_device;
pub mod get_devices;
pub mod update_device;

use myelin_core::users::DeviceInfo;
use ruma::{MilliSecondsSinceUnixEpoch, UInt, api::client::device::Device};

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
