//! HTTP under the address policy: the resolver that refuses denied ranges (for federation,
//! URL previews and push gateways), plain size-limited GETs, and the error text of a failed
//! request.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
};

use myelin_core::{Error, Result, lock};

use crate::policy::Policy;

/// Names whose addresses are those of another name (SRV targets), shared with the resolver.
pub(crate) type Overrides = Arc<Mutex<HashMap<String, String>>>;

/// Resolves names for reqwest and refuses addresses the policy denies.
pub(crate) struct PolicyResolver {
    pub(crate) policy: Arc<Policy>,
    pub(crate) overrides: Overrides,
}

impl PolicyResolver {
    /// A resolver without name overrides (for requests that do no server discovery).
    pub(crate) fn new(policy: Arc<Policy>) -> Self {
        Self {
            policy,
            overrides: Overrides::default(),
        }
    }
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = Arc::clone(&self.policy);
        let target = lock(&self.overrides)
            .get(name.as_str())
            .cloned()
            .unwrap_or_else(|| name.as_str().to_owned());
        Box::pin(async move {
            let addresses: Vec<SocketAddr> = tokio::net::lookup_host((target.as_str(), 0))
                .await?
                .filter(|address| policy.ip_allowed(address.ip()))
                .collect();
            if addresses.is_empty() {
                return Err(format!(
                    "{target} has no address that federation may connect to (ip_range_denylist)"
                )
                .into());
            }
            Ok(Box::new(addresses.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A plain GET of `url` under `policy` (IP literals checked here, resolved names by the
/// client's resolver), size-limited; the body and its content type.
pub(crate) async fn plain_get(
    http: &reqwest::Client,
    policy: &Policy,
    url: &str,
    max_bytes: u64,
) -> Result<myelin_core::ports::FetchedUrl> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|error| Error::InvalidParam(format!("Not a URL: {error}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Error::InvalidParam(
            "Only http and https URLs are fetched".into(),
        ));
    }
    if literal_denied(policy, &parsed) {
        return Err(Error::Forbidden(
            "This address is in a range this server may not connect to".into(),
        ));
    }
    let response = http.get(parsed).send().await.map_err(|error| {
        // A refusal by the resolver or a redirect policy is the address policy speaking.
        let text = format!("{error:?}");
        if text.contains("denied address range") || text.contains("ip_range_denylist") {
            Error::Forbidden("This address is in a range this server may not connect to".into())
        } else {
            Error::Unavailable(format!("Cannot fetch {url}: {}", error_chain(&error)))
        }
    })?;
    if !response.status().is_success() {
        return Err(Error::Unavailable(format!(
            "{url} answered {}",
            response.status()
        )));
    }
    let content_type = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let bytes = read_limited(response, max_bytes).await?;
    Ok(myelin_core::ports::FetchedUrl {
        bytes: bytes.to_vec(),
        content_type,
    })
}

/// Whether `url` names an IP literal the policy denies (names are checked when resolved).
pub(crate) fn literal_denied(policy: &Policy, url: &reqwest::Url) -> bool {
    url.host_str()
        .and_then(|host| host.trim_matches(['[', ']']).parse::<IpAddr>().ok())
        .is_some_and(|ip| !policy.ip_allowed(ip))
}

/// Reads an answer's body, refusing to go past `max_bytes`.
pub(crate) async fn read_limited(
    mut response: reqwest::Response,
    max_bytes: u64,
) -> Result<bytes::Bytes> {
    if response
        .content_length()
        .is_some_and(|length| length > max_bytes)
    {
        return Err(Error::TooLarge("answer too large".into()));
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| Error::Unavailable(format!("the answer broke off: {error}")))?
    {
        if body.len() as u64 + chunk.len() as u64 > max_bytes {
            return Err(Error::TooLarge("answer too large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// A failed request's error with every cause, for logs and errors.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
