//! `myelin-core`, the ground floor of Myelin: configuration types, the storage layer, accounts and
//! everything else the protocol crates share. It knows nothing of HTTP.
#![forbid(unsafe_code)]

pub mod appservice;
pub mod clock;
pub mod config;
pub mod ephemeral;
pub mod error;
pub mod follow;
pub mod ids;
pub mod keys;
pub mod media;
pub mod metrics;
pub mod mutex;
pub mod ports;
pub mod push_delivery;
pub mod rooms;
pub mod services;
pub mod storage;
pub mod stream;
pub mod strict_json;
pub mod users;
pub mod voip;

pub use crate::{
    error::{Error, Result},
    mutex::lock,
    services::Services,
};
