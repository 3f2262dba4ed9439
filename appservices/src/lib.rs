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

/// Starts a sender for every registration with a URL; they end when `stopped` turns true.
pub fn start(
    services: Services,
    stopped: watch::Receiver<bool>,
) -> Result<Vec<tokio::task::JoinHandle<()>>> {
    let http = http_client()?;
    let mut tasks = Vec::new();
    for appservice in services.appservices.all() {
        if appservice.registration.url.is_none() {
            continue;
        }
        let sender = sender::Sender::new(
            services.clone(),
            Arc::clone(appservice),
            http.clone(),
            stopped.clone(),
        );
        tasks.push(tokio::spawn(sender.run()));
    }
    Ok(tasks)
}

/// The queries port, ready to plug in.
pub fn queries(services: &Services) -> Result<Arc<Queries>> {
    Ok(Arc::new(Queries::new(
        Arc::clone(&services.appservices),
        http_client()?,
    )))
}
