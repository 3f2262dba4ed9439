//! Which member events a device already has through lazy-loading `/sync`, so that they are not
//! sent again (`include_redundant_members: false`, the default), as Synapse keeps a cache per
//! device for it. The memory is a cache: after a restart, or when it is full, members are sent
//! again, which is always correct.

use std::collections::{HashMap, HashSet};

use myelin_core::lock;
use ruma::{OwnedDeviceId, OwnedEventId, OwnedRoomId, OwnedUserId};

/// More devices than this and the cache starts afresh.
const MAX_DEVICES: usize = 10_000;

type Rooms = HashMap<OwnedRoomId, HashSet<OwnedEventId>>;

#[derive(Default)]
pub(crate) struct SentMembers {
    devices: std::sync::Mutex<HashMap<(OwnedUserId, OwnedDeviceId), Rooms>>,
}

impl SentMembers {
    /// Forgets everything the device was sent (an initial sync starts from nothing).
    pub(crate) fn forget_device(&self, user: &OwnedUserId, device: &OwnedDeviceId) {
        lock(&self.devices).remove(&(user.clone(), device.clone()));
    }

    /// Forgets what the device was sent of one room (after a gap the client may have dropped
    /// the room's state).
    pub(crate) fn forget_room(
        &self,
        user: &OwnedUserId,
        device: &OwnedDeviceId,
        room: &OwnedRoomId,
    ) {
        if let Some(rooms) = lock(&self.devices).get_mut(&(user.clone(), device.clone())) {
            rooms.remove(room);
        }
    }

    /// Keeps the member events `events` the device has not had in the room, and notes them
    /// as sent.
    pub(crate) fn unsent(
        &self,
        user: &OwnedUserId,
        device: &OwnedDeviceId,
        room: &OwnedRoomId,
        events: Vec<OwnedEventId>,
    ) -> HashSet<OwnedEventId> {
        let mut devices = lock(&self.devices);
        if devices.len() >= MAX_DEVICES && !devices.contains_key(&(user.clone(), device.clone())) {
            devices.clear();
        }
        let sent = devices
            .entry((user.clone(), device.clone()))
            .or_default()
            .entry(room.clone())
            .or_default();
        events
            .into_iter()
            .filter(|event| sent.insert(event.clone()))
            .collect()
    }
}
