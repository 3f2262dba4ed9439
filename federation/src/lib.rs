//! `myelin-federation`: the server-server API. Inbound, every request is checked against its
//! `X-Matrix` signature and every PDU against its signatures, hashes and the room's rules before
//! `myelin-core` places it; outbound, requests are signed, servers discovered as the spec orders,
//! private address ranges refused, and local events delivered by a durable per-destination
//! sender. The client API reaches this crate through `myelin_core::ports::Federation`.
#![forbid(unsafe_code)]

pub mod client;
pub mod discovery;
mod guarded_http;
mod handshake;
mod inbound;
pub mod keys;
mod outbound;
pub mod policy;
pub mod push_gateway;
pub mod sender;
mod server;
pub mod url_fetcher;

use std::sync::Arc;

use myelin_core::{Result, Services};
use ruma::OwnedServerName;
use tokio::sync::watch;

pub use server::router;

/// The inbound checks as pure functions, for the fuzz targets in `fuzz/`.
#[doc(hidden)]
pub mod fuzzing {
    use std::collections::BTreeMap;

    use myelin_core::{Result, keys::CachedServerKeys, rooms::RemoteEvent};
    use ruma::{OwnedServerName, room_version_rules::RoomVersionRules};

    /// What `check_pdus` does to one inbound PDU (size, format, reference hash, signatures and
    /// content hash), with the servers' keys given instead of fetched.
    pub fn check_pdu(
        value: serde_json::Value,
        rules: &RoomVersionRules,
        keys: &BTreeMap<OwnedServerName, CachedServerKeys>,
    ) -> Result<RemoteEvent> {
        crate::inbound::finish(crate::inbound::prepare(value, rules)?, keys, rules)
    }
}

use crate::{client::FederationClient, keys::KeyService, sender::Sender};

/// The federation service of one server.
pub struct Federation {
    pub services: Services,
    pub client: Arc<FederationClient>,
    pub keys: KeyService,
    pub sender: Arc<Sender>,
}

impl Federation {
    /// Builds the service; `stopped` ends the sender's tasks.
    pub fn new(services: Services, stopped: watch::Receiver<bool>) -> Result<Arc<Self>> {
        let config = &services.config.federation;
        let server_name: OwnedServerName = services.rooms.server_name().clone();
        let client = Arc::new(FederationClient::new(
            config,
            server_name.clone(),
            Arc::clone(&services.keys),
        )?);
        let keys = KeyService::new(
            services.store.clone(),
            server_name,
            Arc::clone(&services.keys),
            config.trusted_key_servers.clone(),
            Arc::clone(&client),
        );
        let sender = Sender::new(services.clone(), Arc::clone(&client), stopped);
        Ok(Arc::new(Self {
            services,
            client,
            keys,
            sender,
        }))
    }

    /// Stops the sender's destination workers and waits until they are gone.
    pub async fn stop(&self) {
        self.sender.stop().await;
    }

    /// Starts the outbound sender.
    pub fn start(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        self.sender.start()
    }
}
