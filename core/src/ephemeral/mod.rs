//! Ephemeral room data: typing notifications (memory only, they expire in seconds) and read
//! receipts (durable, in the event stream so sync follows them like events).

mod receipts;
mod typing;

pub use self::{
    receipts::{Receipt, ReceiptType},
    typing::Typing,
};
