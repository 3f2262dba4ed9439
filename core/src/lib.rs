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
pub mod ports;
pub mod push_delivery;
pub mod rooms;
pub mod storage;
pub mod stream;
pub mod strict_json;
pub mod users;
pub mod voip;

use std::sync::Arc;

pub use error::{Error, Result};

/// Locks a mutex, going on after a panic elsewhere poisoned it: every mutex here guards plain
/// maps whose every state is consistent, so a poisoned one is still safe to use.
pub fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

use crate::{
    config::Config, keys::ServerKeys, rooms::Rooms, storage::Store, stream::Notifier, users::Users,
};

/// The services of one server, built once at startup and handed to every handler.
#[derive(Clone)]
pub struct Services {
    pub config: Arc<Config>,
    pub store: Store,
    pub users: Users,
    pub rooms: Rooms,
    pub notifier: Arc<Notifier>,
    /// The server's signing key.
    pub keys: Arc<ServerKeys>,
    pub typing: ephemeral::Typing,
    pub presence: ephemeral::Presence,
    pub metrics: Arc<metrics::Metrics>,
    /// Outbound federation, plugged in by the binary.
    pub federation: ports::FederationPort,
    /// Push gateway delivery, plugged in by the binary.
    pub push_gateway: ports::PushGatewayPort,
    pub media: media::Media,
    /// URL fetching for previews, plugged in by the binary when previews are enabled.
    pub url_fetcher: ports::UrlFetcherPort,
    /// Application-service registrations.
    pub appservices: Arc<appservice::Appservices>,
    /// Queries to appservices, plugged in by the binary.
    pub appservice_queries: ports::AppserviceQueriesPort,
}

impl Services {
    /// Opens the store named by the config and builds the services on it.
    pub fn open(config: Config) -> Result<Self> {
        let config = Arc::new(config);
        let store = Store::open(config.storage.backend, &config.server.data_dir)?;
        let notifier = Arc::new(Notifier::load(&store)?);
        let serial = ephemeral::EphemeralSerial::new();
        let presence = ephemeral::Presence::new(
            config.presence.enabled,
            serial.clone(),
            Arc::clone(&notifier),
        );
        let keys = Arc::new(ServerKeys::load_or_generate(&store)?);
        let users = Users::new(store.clone(), Arc::clone(&config), Arc::clone(&notifier))?;
        let rooms = Rooms::new(
            store.clone(),
            Arc::clone(&config),
            Arc::clone(&keys),
            Arc::clone(&notifier),
        )?;
        let appservices = Arc::new(appservice::Appservices::load(
            &config.appservices.registration_files,
            rooms.server_name(),
        )?);
        let media = media::Media::new(
            store.clone(),
            Arc::clone(&config),
            rooms.server_name().clone(),
        )?;
        Ok(Self {
            appservices,
            media,
            config,
            store,
            users,
            rooms,
            typing: ephemeral::Typing::new(serial.clone(), Arc::clone(&notifier)),
            presence,
            notifier,
            keys,
            metrics: Arc::new(metrics::Metrics::default()),
            federation: ports::FederationPort::default(),
            push_gateway: ports::PushGatewayPort::default(),
            url_fetcher: ports::UrlFetcherPort::default(),
            appservice_queries: ports::AppserviceQueriesPort::default(),
        })
    }
}
