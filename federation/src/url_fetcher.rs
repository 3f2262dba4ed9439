//! Fetching the pages users link, for URL previews: plain GETs under the preview address policy
//! (`media.url_preview_ip_range_*`), checked on every resolved address and on every redirect
//! target that is an IP literal, size-limited and timed out.

use std::{net::IpAddr, sync::Arc, time::Duration};

use myelin_core::{
    Error, Result,
    config::MediaConfig,
    ports::{BoxFuture, FetchedUrl, UrlFetcher},
};

use crate::{
    client::{PolicyResolver, read_limited},
    policy::Policy,
};

pub struct PreviewFetcher {
    http: reqwest::Client,
    policy: Arc<Policy>,
}

fn literal_denied(policy: &Policy, url: &reqwest::Url) -> bool {
    url.host_str()
        .and_then(|host| host.trim_matches(['[', ']']).parse::<IpAddr>().ok())
        .is_some_and(|ip| !policy.ip_allowed(ip))
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

    async fn get(&self, url: &str, max_bytes: u64) -> Result<FetchedUrl> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|error| Error::InvalidParam(format!("Not a URL: {error}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::InvalidParam(
                "Only http and https URLs are previewed".into(),
            ));
        }
        if literal_denied(&self.policy, &parsed) {
            return Err(Error::Forbidden(
                "This address is in a range URL previews may not fetch from".into(),
            ));
        }
        let response = self.http.get(parsed).send().await.map_err(|error| {
            // A refusal by the resolver or the redirect policy is the address policy speaking.
            let text = format!("{error:?}");
            if text.contains("denied address range") || text.contains("ip_range_denylist") {
                Error::Forbidden(
                    "This address is in a range URL previews may not fetch from".into(),
                )
            } else {
                Error::Unavailable(format!("Cannot fetch the URL: {error}"))
            }
        })?;
        if !response.status().is_success() {
            return Err(Error::Unavailable(format!(
                "The URL answered {}",
                response.status()
            )));
        }
        let content_type = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let bytes = read_limited(response, max_bytes).await?;
        Ok(FetchedUrl {
            bytes: bytes.to_vec(),
            content_type,
        })
    }
}

impl UrlFetcher for PreviewFetcher {
    fn fetch<'a>(&'a self, url: &'a str, max_bytes: u64) -> BoxFuture<'a, Result<FetchedUrl>> {
        Box::pin(self.get(url, max_bytes))
    }
}
