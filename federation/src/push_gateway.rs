//! The client side of the Push Gateway API: `POST /_matrix/push/v1/notify` to the gateways
//! users' pushers name. Gateway URLs are user input, so requests obey the same outbound policy
//! as federation (no private, loopback or link-local targets unless allowlisted; checked on
//! every resolved address and on IP literals), follow no redirects, and time out.

use std::{sync::Arc, time::Duration};

use myelin_core::{Error, Result, config::FederationConfig, ports::BoxFuture};
use serde_json::Value as JsonValue;

use crate::{
    guarded_http::{PolicyResolver, literal_denied},
    policy::Policy,
};

pub struct PushGatewayClient {
    http: reqwest::Client,
    policy: Arc<Policy>,
}

impl PushGatewayClient {
    pub fn new(config: &FederationConfig) -> Result<Self> {
        // rustls needs a process-wide crypto provider; a second install is refused harmlessly.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let policy = Arc::new(Policy::from_config(config)?);
        let http = reqwest::Client::builder()
            .dns_resolver(Arc::new(PolicyResolver::new(Arc::clone(&policy))))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Myelin/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| Error::Internal(format!("push HTTP client: {error}")))?;
        Ok(Self { http, policy })
    }

    async fn post(&self, url: &str, notification: JsonValue) -> Result<Vec<String>> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|error| Error::InvalidParam(format!("bad push gateway URL: {error}")))?;
        // IP literals never reach the resolver, so they are checked here.
        if literal_denied(&self.policy, &parsed) {
            return Err(Error::Forbidden(format!(
                "push gateway {} is in a denied address range (ip_range_denylist)",
                parsed.host_str().unwrap_or_default()
            )));
        }
        let response = self
            .http
            .post(parsed)
            .json(&notification)
            .send()
            .await
            .map_err(|error| Error::Unavailable(format!("push gateway: {error}")))?;
        let status = response.status();
        if !status.is_success() {
            return Err(Error::Unavailable(format!(
                "push gateway answered {status}"
            )));
        }
        let body: JsonValue = response.json().await.unwrap_or_default();
        Ok(body
            .get("rejected")
            .and_then(JsonValue::as_array)
            .into_iter()
            .flatten()
            .filter_map(|key| key.as_str().map(str::to_owned))
            .collect())
    }
}

impl myelin_core::ports::PushGateway for PushGatewayClient {
    fn notify<'a>(
        &'a self,
        url: &'a str,
        notification: JsonValue,
    ) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(self.post(url, notification))
    }
}
