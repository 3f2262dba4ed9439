//! The services of one server, built once at startup in dependency order: the top of the core.

use std::sync::Arc;

use crate::{
    appservice, config::Config, ephemeral, error::Result, keys::ServerKeys, media, metrics, ports,
    rooms::Rooms, storage::Store, stream::Notifier, users::Users,
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
        let keys = Arc::new(ServerKeys::load_or_generate(&store)?);
        let users = Users::new(store.clone(), Arc::clone(&config), Arc::clone(&notifier))?;
        let rooms = Rooms::new(
            store.clone(),
            Arc::clone(&config),
            Arc::clone(&keys),
            Arc::clone(&notifier),
        )?;
        let presence = ephemeral::Presence::new(
            config.presence.enabled,
            serial.clone(),
            Arc::clone(&notifier),
            store.clone(),
            rooms.server_name().clone(),
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
