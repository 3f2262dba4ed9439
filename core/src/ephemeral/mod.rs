//! Ephemeral room data: typing notifications (memory only, they expire in seconds) and read
//! receipts (durable, in the event stream so sync follows them like events).

mod presence;
mod receipts;
mod typing;

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

pub use crate::stream::{Receipt, ReceiptType};

pub use self::{
    presence::{Presence, PresenceState, PresenceStatus},
    typing::Typing,
};

/// A counter shared by typing and presence: each change takes the next value, and `/sync`
/// tokens carry the value they have seen. It starts at the wall clock, so it keeps growing across
/// restarts and old tokens never hide new changes.
#[derive(Clone)]
pub struct EphemeralSerial(Arc<AtomicU64>);

impl EphemeralSerial {
    pub fn new() -> Self {
        Self(Arc::new(AtomicU64::new(crate::clock::now_ms())))
    }

    pub fn bump(&self) -> u64 {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }

    pub fn current(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl Default for EphemeralSerial {
    fn default() -> Self {
        Self::new()
    }
}
