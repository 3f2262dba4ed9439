//! `myelin-core`, the ground floor of Myelin: configuration types, the storage layer, accounts and
//! everything else the protocol crates share. It knows nothing of HTTP.
#![forbid(unsafe_code)]

pub mod config;
pub mod error;
pub mod metrics;
pub mod storage;
pub mod users;

use std::sync::Arc;

pub use error::{Error, Result};

use crate::{config::Config, storage::Store, users::Users};

/// The services of one server, built once at startup and handed to every handler.
#[derive(Clone)]
pub struct Services {
    pub config: Arc<Config>,
    pub store: Store,
    pub users: Users,
    pub metrics: Arc<metrics::Metrics>,
}

impl Services {
    /// Opens the store named by the config and builds the services on it.
    pub fn open(config: Config) -> Result<Self> {
        let config = Arc::new(config);
        let store = Store::open(config.storage.backend, &config.server.data_dir)?;
        let users = Users::new(store.clone(), Arc::clone(&config))?;
        Ok(Self {
            config,
            store,
            users,
            metrics: Arc::new(metrics::Metrics::default()),
        })
    }
}
