//! `myelin-appservices`: the application-service API, homeserver side. Each registration with a
//! URL gets a sender that follows the event stream from its own durable position and delivers
//! the events its namespaces make it interested in, as numbered transactions, in order, retried
//! with backoff while the bridge is down (the same transaction id again, so nothing arrives
//! twice); and the queries the client API makes of appservices (users, aliases, ping).
#![forbid(unsafe_code)]

mod queries;
mod sender;

use std::{sync::Arc, time::Duration};

use myelin_core::{Error, Result, Services, appservice::Appservice};
use serde_json::Value as JsonValue;
use tokio::sync::watch;

pub use queries::Queries;

/// An HTTP client for talking to appservices (they are configured by the admin, usually on
/// loopback: no address policy applies).
fn http_client() -> Result<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .user_agent(concat!("Myelin/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|error| Error::Internal(format!("appservice HTTP client: {error}")))
}

/// Sends `body` to `path` of an appservice with its `hs_token`; the answer's status and body.
async fn call(
    http: &reqwest::Client,
    appservice: &Appservice,
    method: reqwest::Method,
    path: &str,
    body: Option<&JsonValue>,
) -> Result<(reqwest::StatusCode, JsonValue)> {
    let Some(base) = appservice.registration.url.as_deref() else {
        return Err(Error::Unavailable(format!(
            "appservice {} has no URL",
            appservice.id()
        )));
    };
    let mut request = http
        .request(method, format!("{}{path}", base.trim_end_matches('/')))
        .bearer_auth(&appservice.registration.hs_token);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request
        .send()
        .await
        .map_err(|error| Error::Unavailable(format!("appservice {}: {error}", appservice.id())))?;
    let status = response.status();
    let body = response.json().await.unwrap_or(JsonValue::Null);
    Ok((status, body))
}

/// The transaction senders, one per registration with a URL; after a reload of the
/// registrations, [`Senders::refresh`] starts senders for new or changed ones (the old ones
/// notice they are outdated and stop).
pub struct Senders {
    services: Services,
    http: reqwest::Client,
    stopped: watch::Receiver<bool>,
    running: std::sync::Mutex<Vec<(Arc<Appservice>, tokio::task::JoinHandle<()>)>>,
}

impl Senders {
    pub fn start(services: Services, stopped: watch::Receiver<bool>) -> Result<Arc<Self>> {
        let senders = Arc::new(Self {
            services,
            http: http_client()?,
            stopped,
            running: std::sync::Mutex::new(Vec::new()),
        });
        senders.refresh();
        Ok(senders)
    }

    /// Starts a sender for every current registration that has none.
    pub fn refresh(&self) {
        let mut running = myelin_core::lock(&self.running);
        running.retain(|(_, task)| !task.is_finished());
        for appservice in self.services.appservices.all() {
            if appservice.registration.url.is_none()
                || running
                    .iter()
                    .any(|(current, _)| Arc::ptr_eq(current, &appservice))
            {
                continue;
            }
            let sender = sender::Sender::new(
                self.services.clone(),
                Arc::clone(&appservice),
                self.http.clone(),
                self.stopped.clone(),
            );
            running.push((appservice, tokio::spawn(sender.run())));
        }
    }

    /// Waits for every sender to stop (after `stopped` turned true).
    pub async fn join(&self) {
        let tasks: Vec<_> = myelin_core::lock(&self.running)
            .drain(..)
            .map(|(_, task)| task)
            .collect();
        for task in tasks {
            let _ = task.await;
        }
    }
}

/// The queries port, ready to plug in.
pub fn queries(services: &Services) -> Result<Arc<Queries>> {
    Ok(Arc::new(Queries::new(
        Arc::clone(&services.appservices),
        http_client()?,
    )))
}
