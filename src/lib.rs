//! The `myelin` server assembly: it loads the config, opens the store, builds the services once,
//! wires the protocol crates onto listeners and runs them until shutdown. Tests start whole
//! servers through [`RunningServer::start`].
#![forbid(unsafe_code)]

pub mod config;
mod listener;
mod tls;

use std::{net::SocketAddr, time::Duration};

use myelin_client_api::AppState;
use myelin_core::{Services, config::Config};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Store(#[from] myelin_core::Error),
    #[error("federation TLS: {0}")]
    Tls(String),
    #[error("cannot listen on {address} ({listener}): {error}")]
    Bind {
        listener: &'static str,
        address: SocketAddr,
        error: std::io::Error,
    },
}

/// A server that is serving. Dropping it without [`RunningServer::shutdown`] aborts its tasks.
pub struct RunningServer {
    pub client_addr: SocketAddr,
    pub federation_addr: Option<SocketAddr>,
    services: Services,
    stop: watch::Sender<bool>,
    listeners: Vec<JoinHandle<()>>,
    background: Vec<JoinHandle<()>>,
    federation: Option<std::sync::Arc<myelin_federation::Federation>>,
    appservice_senders: std::sync::Arc<myelin_appservices::Senders>,
}

impl RunningServer {
    /// Opens the store, binds the listeners and starts serving.
    pub async fn start(mut config: Config) -> Result<Self, StartError> {
        // Bind first, so a port of 0 becomes the real port everywhere the config is read
        // (`/.well-known` documents, log lines).
        let client_listener = bind("client", config.client.bind).await?;
        config.client.bind = local_addr("client", &client_listener, config.client.bind)?;
        let federation_listener = match config.federation.enabled {
            true => {
                let listener = bind("federation", config.federation.bind).await?;
                config.federation.bind =
                    local_addr("federation", &listener, config.federation.bind)?;
                Some(listener)
            }
            false => None,
        };
        let client_addr = config.client.bind;
        let federation_addr = federation_listener
            .is_some()
            .then_some(config.federation.bind);

        let services = Services::open(config)?;
        services
            .users
            .ensure_appservice_senders(&services.appservices)
            .await?;
        let config = services.config.clone();
        let (stop, stopped) = watch::channel(false);
        let mut federation_service = None;
        let state = AppState::new(services.clone());
        let mut listeners = vec![tokio::spawn(listener::serve(
            client_listener,
            myelin_client_api::router(state.clone()),
            listener::Limits::from_config(&config.client),
            services.metrics.clone(),
            stopped.clone(),
        ))];
        let mut background = Vec::new();
        // Push gateways are reached under the same outbound address policy as federation.
        services.push_gateway.plug(std::sync::Arc::new(
            myelin_federation::push_gateway::PushGatewayClient::new(&config.federation)?,
        ));
        background.push(myelin_core::push_delivery::start(
            services.clone(),
            stopped.clone(),
        ));
        background.push(services.media.start_retention(stopped.clone()));
        services
            .appservice_queries
            .plug(myelin_appservices::queries(&services)?);
        let appservice_senders =
            myelin_appservices::Senders::start(services.clone(), stopped.clone())?;
        if config.media.url_preview_enabled {
            services.url_fetcher.plug(std::sync::Arc::new(
                myelin_federation::url_fetcher::PreviewFetcher::new(&config.media)?,
            ));
        }
        if config.federation.enabled {
            let federation = myelin_federation::Federation::new(services.clone(), stopped.clone())?;
            let port: std::sync::Arc<dyn myelin_core::ports::Federation> = federation.clone();
            services.federation.plug(&port);
            background.push(federation.start());
            federation_service = Some(federation);
        }
        if let (Some(listener), Some(federation)) =
            (federation_listener, federation_service.clone())
        {
            let router = myelin_federation::router(federation);
            let task = if config.federation.tls {
                let (certificate, key) =
                    tls::certificate_and_key(&config).map_err(StartError::Tls)?;
                serve_tls(listener, router, certificate, key, stopped.clone()).await?
            } else {
                // Behind a TLS-terminating proxy: the client listener's connection limits.
                tokio::spawn(listener::serve(
                    listener,
                    router,
                    listener::Limits::from_config(&config.client),
                    services.metrics.clone(),
                    stopped.clone(),
                ))
            };
            listeners.push(task);
        }

        background.push(spawn_delayed_events(state.clone(), stopped.clone()));
        background.push(spawn_housekeeping(state, stopped));
        tracing::info!(server_name = %config.server.name, backend = %config.storage.backend, data_dir = %config.server.data_dir.display(), "Myelin started");
        tracing::info!("client API listening on http://{client_addr}");
        if let Some(address) = federation_addr {
            let scheme = if config.federation.tls {
                "https"
            } else {
                "http"
            };
            tracing::info!("federation API listening on {scheme}://{address}");
        }
        let server = Self {
            client_addr,
            federation_addr,
            services,
            stop,
            listeners,
            background,
            federation: federation_service,
            appservice_senders,
        };
        server.greet_newcomer().await?;
        Ok(server)
    }

    pub fn services(&self) -> &Services {
        &self.services
    }

    /// Reads the appservice registration files again (SIGHUP): new ones start receiving
    /// transactions, removed ones stop and their tokens stop working. On a bad file nothing
    /// changes. Returns the ids added and removed.
    pub async fn reload_appservices(
        &self,
        files: &[std::path::PathBuf],
    ) -> Result<(Vec<String>, Vec<String>), StartError> {
        let services = &self.services;
        let (added, removed) = services
            .appservices
            .reload(files, services.rooms.server_name())?;
        services
            .users
            .ensure_appservice_senders(&services.appservices)
            .await?;
        self.appservice_senders.refresh();
        tracing::info!(?added, ?removed, "appservice registrations reloaded");
        Ok((added, removed))
    }

    /// Base URL of the client API, for tests and tools.
    pub fn client_url(&self) -> String {
        format!("http://{}", self.client_addr)
    }

    /// Stops accepting connections, lets in-flight requests finish, writes what is buffered and
    /// flushes the store.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for listener in self.listeners {
            let _ = listener.await;
        }
        for task in &self.background {
            task.abort();
        }
        for task in self.background {
            let _ = task.await;
        }
        self.appservice_senders.join().await;
        if let Some(federation) = self.federation {
            federation.stop().await;
        }
        if let Err(error) = self.services.users.flush_last_seen().await {
            tracing::warn!(%error, "could not save device last-seen data");
        }
        let store = self.services.store.clone();
        match tokio::task::spawn_blocking(move || store.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(%error, "final store flush failed"),
            Err(error) => tracing::error!(%error, "final store flush task failed"),
        }
        tracing::info!("Myelin stopped");
    }

    /// An empty server without open registration tells its first user how to get in.
    async fn greet_newcomer(&self) -> Result<(), StartError> {
        let users = &self.services.users;
        let config = &self.services.config.registration;
        if !users.list_accounts()?.is_empty() {
            return Ok(());
        }
        if config.open {
            tracing::info!(
                "No accounts yet. Registration is open: any Matrix client can register at {}",
                self.client_url()
            );
            return Ok(());
        }
        let mut hint = String::from(
            "No accounts yet. Create the first one with `myelin user create <name> --admin` (with the server stopped, or running with registration.registration_shared_secret set)",
        );
        if config.first_start_token {
            let tokens = users.registration_tokens()?;
            let token = match tokens
                .into_iter()
                .find(|token| token.uses_allowed == Some(1) && token.completed == 0)
            {
                Some(token) => token,
                None => users.create_registration_token(Some(1), None).await?,
            };
            hint.push_str(&format!(
                ", or register in any Matrix client at {} with the one-time registration token {}",
                self.client_url(),
                token.token
            ));
        }
        tracing::info!("{hint}");
        Ok(())
    }
}

async fn bind(listener: &'static str, address: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(address)
        .await
        .map_err(|error| StartError::Bind {
            listener,
            address,
            error,
        })
}

fn local_addr(
    listener: &'static str,
    socket: &TcpListener,
    address: SocketAddr,
) -> Result<SocketAddr, StartError> {
    socket.local_addr().map_err(|error| StartError::Bind {
        listener,
        address,
        error,
    })
}

/// Serves `router` over TLS; stops accepting when `stopped` turns true and gives open
/// connections ten seconds to finish.
async fn serve_tls(
    listener: TcpListener,
    router: axum::Router,
    certificate: Vec<u8>,
    key: Vec<u8>,
    mut stopped: watch::Receiver<bool>,
) -> Result<JoinHandle<()>, StartError> {
    // rustls needs a process-wide crypto provider; a second install (another server in the same
    // process) is refused harmlessly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tls = axum_server::tls_rustls::RustlsConfig::from_pem(certificate, key)
        .await
        .map_err(|error| StartError::Tls(format!("unusable certificate or key: {error}")))?;
    let listener = listener
        .into_std()
        .map_err(|error| StartError::Tls(error.to_string()))?;
    // TCP_NODELAY, as on the client listener: a TLS record written in pieces must not wait for
    // the peer's delayed ACK.
    let server = axum_server::from_tcp_rustls(listener, tls)
        .map_err(|error| StartError::Tls(error.to_string()))?
        .map(|acceptor| acceptor.acceptor(axum_server::accept::NoDelayAcceptor::new()))
        // A connection that sends no request at all is closed; rustls bounds the handshake
        // (10 s) and hyper the headers of later requests (30 s).
        .first_request_timeout(Duration::from_secs(30));
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        let _ = stopped.wait_for(|stop| *stop).await;
        stopper.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    Ok(tokio::spawn(async move {
        if let Err(error) = server
            .handle(handle)
            .serve(router.into_make_service_with_connect_info::<SocketAddr>())
            .await
        {
            tracing::error!(%error, "federation listener failed");
        }
    }))
}

/// Sends delayed events (MSC4140) when they are due: wakes at the next one's time, or every
/// half second to see newly scheduled ones (a delay is at least that coarse anyway).
fn spawn_delayed_events(state: AppState, mut stopped: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let wait = match state.services.rooms.send_due_delayed_events().await {
                Ok(Some(due)) => {
                    let now = myelin_core::users::now_ms();
                    Duration::from_millis(due.saturating_sub(now).min(500))
                }
                Ok(None) => Duration::from_millis(500),
                Err(error) => {
                    tracing::warn!(%error, "could not send delayed events");
                    Duration::from_secs(5)
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stopped.wait_for(|stop| *stop) => return,
            }
        }
    })
}

/// Periodic chores: expire idle presence, write device last-seen data, forget idle rate-limit
/// buckets.
fn spawn_housekeeping(state: AppState, mut stopped: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        for round in 0u64.. {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopped.wait_for(|stop| *stop) => return,
            }
            if let Err(error) = state.services.presence.expire_idle().await {
                tracing::warn!(%error, "could not record presence changes");
            }
            if round % 3 == 0 {
                if let Err(error) = state.services.users.flush_last_seen().await {
                    tracing::warn!(%error, "could not save device last-seen data");
                }
                state.limits.forget_idle();
            }
        }
    })
}
