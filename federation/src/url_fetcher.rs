//! Fetching the pages users link, for URL previews: plain GETs under the preview address policy
//! (`media.url_preview_ip_range_*`), checked on every resolved address and on every redirect
//! target that is an IP literal, size-limited and timed out.

use std::{sync::Arc, time::Duration};

use myelin_core::{
    Error, Result,
    config::MediaConfig,
    ports::{BoxFuture, FetchedUrl, UrlFetcher},
};

use crate::{
    guarded_http::{PolicyResolver, literal_denied, plain_get},
    policy::Policy,
};

pub struct PreviewFetcher {
    http: reqwest::Client,
    policy: Arc<Policy>,
}

impl PreviewFetcher {
    pub fn new(config: &MediaConfig) -> Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let policy = Arc::new(Policy::from_ranges(
            &config.url_preview_ip_range_denylist,
            &config.url_preview_ip_range_allowlist,
            "media.url_preview_",
        )?);
        let redirect_policy = Arc::clone(&policy);
        let http = reqwest::Client::builder()
            .dns_resolver(Arc::new(PolicyResolver::new(Arc::clone(&policy))))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= 5 {
                    attempt.error("too many redirects")
                } else if literal_denied(&redirect_policy, attempt.url()) {
                    attempt.error("redirect into a denied address range")
                } else {
                    attempt.follow()
                }
            }))
            .user_agent(concat!(
                "Myelin/",
                env!("CARGO_PKG_VERSION"),
                " (URL preview)"
            ))
            .build()
            .map_err(|error| Error::Internal(format!("preview HTTP client: {error}")))?;
        Ok(Self { http, policy })
    }
}

impl UrlFetcher for PreviewFetcher {
    fn fetch<'a>(&'a self, url: &'a str, max_bytes: u64) -> BoxFuture<'a, Result<FetchedUrl>> {
        Box::pin(plain_get(&self.http, &self.policy, url, max_bytes))
    }
}
