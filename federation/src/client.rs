//! Outbound federation requests: discovery, the IP-range policy on every resolved address, TLS
//! (certificates verified unless the config says otherwise), `X-Matrix` signatures, and ruma's
//! typed requests and responses.

use myelin_core::lock;
use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use myelin_core::{Error, Result, config::FederationConfig, keys::ServerKeys, ports::BoxFuture};
use ruma::{
    OwnedServerName, ServerName,
    api::{
        IncomingResponse, IncomingResponseExt as _, OutgoingRequest, OutgoingRequestExt as _,
        auth_scheme::NoAuthentication,
        error::FromHttpResponseError,
        federation::authentication::{ServerSignatures, XMatrixSigningInput},
        path_builder::PathBuilder,
    },
};

use crate::{
    discovery::{Discovery, Lookups, Resolved, parse_well_known, well_known_ttl},
    guarded_http::{Overrides, PolicyResolver, error_chain, plain_get, read_limited},
    policy::Policy,
};

/// The outbound HTTP side of federation.
pub struct FederationClient {
    http: reqwest::Client,
    server_name: OwnedServerName,
    keys: Arc<ServerKeys>,
    policy: Arc<Policy>,
    discovery: Discovery,
    lookups: RealLookups,
    overrides: Overrides,
    /// Servers that could not be reached lately: consecutive failures and when to try again.
    /// Requests to them fail at once meanwhile (as Synapse's `NotRetryingDestination`), so a
    /// dead server does not make every key query or profile lookup wait for a timeout.
    backoff: Mutex<HashMap<OwnedServerName, (u32, std::time::Instant)>>,
}

/// First and longest wait before a server that could not be reached is tried again.
const FIRST_BACKOFF: Duration = Duration::from_secs(30);
const MAX_BACKOFF: Duration = Duration::from_secs(30 * 60);

struct RealLookups {
    http: reqwest::Client,
    dns: Option<hickory_resolver::TokioResolver>,
}

impl Lookups for RealLookups {
    fn well_known<'a>(&'a self, hostname: &'a str) -> BoxFuture<'a, Option<(String, Duration)>> {
        Box::pin(async move {
            let response = self
                .http
                .get(format!("https://{hostname}/.well-known/matrix/server"))
                .timeout(Duration::from_secs(10))
                .send()
                .await
                .ok()?;
            if !response.status().is_success() {
                return None;
            }
            let ttl = well_known_ttl(
                response
                    .headers()
                    .get(http::header::CACHE_CONTROL)
                    .and_then(|value| value.to_str().ok()),
            );
            let body = response.bytes().await.ok()?;
            Some((parse_well_known(&body)?, ttl))
        })
    }

    fn srv<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Option<(String, u16)>> {
        Box::pin(async move {
            let lookup = self.dns.as_ref()?.srv_lookup(name).await.ok()?;
            lookup
                .answers()
                .iter()
                .filter_map(|record| match &record.data {
                    hickory_resolver::proto::rr::RData::SRV(srv) => Some((
                        srv.priority,
                        std::cmp::Reverse(srv.weight),
                        srv.target.to_utf8(),
                        srv.port,
                    )),
                    _ => None,
                })
                .min()
                .map(|(_, _, target, port)| (target, port))
        })
    }
}

impl FederationClient {
    pub fn new(
        config: &FederationConfig,
        server_name: OwnedServerName,
        keys: Arc<ServerKeys>,
    ) -> Result<Self> {
        // rustls needs a process-wide crypto provider; a second install is refused harmlessly.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let policy = Arc::new(Policy::from_config(config)?);
        let overrides: Overrides = Arc::default();
        let build = |timeout: Duration| {
            reqwest::Client::builder()
                .dns_resolver(Arc::new(PolicyResolver {
                    policy: Arc::clone(&policy),
                    overrides: Arc::clone(&overrides),
                }))
                .tls_danger_accept_invalid_certs(!config.verify_certificates)
                .connect_timeout(Duration::from_secs(10))
                .timeout(timeout)
                .redirect(reqwest::redirect::Policy::limited(3))
                .pool_idle_timeout(Duration::from_secs(60))
                .user_agent(concat!("Myelin/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|error| Error::Internal(format!("federation HTTP client: {error}")))
        };
        let http = build(Duration::from_secs(120))?;
        let dns = match hickory_resolver::TokioResolver::builder_tokio() {
            Ok(builder) => builder.build().ok(),
            Err(error) => {
                tracing::warn!(%error, "no system DNS configuration; SRV discovery is off");
                None
            }
        };
        Ok(Self {
            lookups: RealLookups {
                http: build(Duration::from_secs(10))?,
                dns,
            },
            http,
            server_name,
            keys,
            policy,
            discovery: Discovery::default(),
            overrides,
            backoff: Mutex::new(HashMap::new()),
        })
    }

    pub fn server_name(&self) -> &ServerName {
        &self.server_name
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    async fn destination(&self, server: &ServerName) -> Result<Resolved> {
        self.policy.check_server(server)?;
        let resolved = self.discovery.resolve(&self.lookups, server).await;
        if let Ok(ip) = resolved.host.parse::<IpAddr>()
            && !self.policy.ip_allowed(ip)
        {
            return Err(Error::Forbidden(format!(
                "Federation to {server} ({ip}) is refused by federation.ip_range_denylist"
            )));
        }
        if let Some(target) = &resolved.connect_to {
            lock(&self.overrides).insert(resolved.host.clone(), target.clone());
        }
        Ok(resolved)
    }

    /// Sends a signed request to `destination` and decodes the answer; fails at once while the
    /// destination is backed off.
    pub async fn send<R>(&self, destination: &ServerName, request: R) -> Result<R::IncomingResponse>
    where
        R: OutgoingRequest<Authentication = ServerSignatures>,
        for<'a> R::PathBuilder: PathBuilder<Input<'a> = ()>,
    {
        self.send_limited(destination, request, MAX_RESPONSE_BYTES)
            .await
    }

    /// Sends a transaction: the sender keeps its own per-destination backoff (and is woken
    /// when the destination talks to us), so the client's does not apply.
    pub async fn send_transaction<R>(
        &self,
        destination: &ServerName,
        request: R,
    ) -> Result<R::IncomingResponse>
    where
        R: OutgoingRequest<Authentication = ServerSignatures>,
        for<'a> R::PathBuilder: PathBuilder<Input<'a> = ()>,
    {
        self.send_signed(destination, request, MAX_RESPONSE_BYTES)
            .await
    }

    fn check_backoff(&self, destination: &ServerName) -> Result<()> {
        if let Some((_, retry_at)) = lock(&self.backoff).get(destination)
            && let Some(wait) = retry_at.checked_duration_since(std::time::Instant::now())
        {
            return Err(Error::Unavailable(format!(
                "{destination} could not be reached lately; not trying again for {}s",
                wait.as_secs().max(1)
            )));
        }
        Ok(())
    }

    /// Records whether `destination` could be reached at all (any HTTP answer counts).
    fn note_reachable(&self, destination: &ServerName, reachable: bool) {
        let mut backoff = lock(&self.backoff);
        if reachable {
            backoff.remove(destination);
            return;
        }
        let failures = backoff
            .get(destination)
            .map_or(0, |(failures, _)| *failures)
            + 1;
        let wait = FIRST_BACKOFF
            .saturating_mul(1 << (failures - 1).min(10))
            .min(MAX_BACKOFF);
        backoff.insert(
            destination.to_owned(),
            (failures, std::time::Instant::now() + wait),
        );
    }

    /// The destination contacted us: it is up, try it again at once.
    pub fn destination_is_up(&self, destination: &ServerName) {
        lock(&self.backoff).remove(destination);
    }

    /// Like [`Self::send`], refusing answers longer than `max_bytes` (media).
    pub async fn send_limited<R>(
        &self,
        destination: &ServerName,
        request: R,
        max_bytes: u64,
    ) -> Result<R::IncomingResponse>
    where
        R: OutgoingRequest<Authentication = ServerSignatures>,
        for<'a> R::PathBuilder: PathBuilder<Input<'a> = ()>,
    {
        self.check_backoff(destination)?;
        self.send_signed(destination, request, max_bytes).await
    }

    async fn send_signed<R>(
        &self,
        destination: &ServerName,
        request: R,
        max_bytes: u64,
    ) -> Result<R::IncomingResponse>
    where
        R: OutgoingRequest<Authentication = ServerSignatures>,
        for<'a> R::PathBuilder: PathBuilder<Input<'a> = ()>,
    {
        // Asking ourselves means nobody else is known to have what is asked for (a room or
        // media with our name that we do not have): Synapse answers such joins 404 too.
        if destination == self.server_name {
            return Err(Error::NotFound(format!(
                "{destination} is this server, and it does not know this"
            )));
        }
        let resolved = self.destination(destination).await?;
        let input = XMatrixSigningInput::new(
            self.server_name.clone(),
            destination.to_owned(),
            &self.keys.key_pair,
        );
        let http_request = request
            .try_into_http_request::<Vec<u8>>(&resolved.base_url(), input, ())
            .map_err(|error| Error::Internal(format!("building a federation request: {error}")))?;
        self.execute::<R::IncomingResponse>(destination, &resolved, http_request, max_bytes)
            .await
    }

    /// Fetches media a server redirected us to (a `Location` answer of a media download):
    /// a plain GET under the same address policy, size-limited.
    pub async fn fetch_location(
        &self,
        url: &str,
        max_bytes: u64,
    ) -> Result<myelin_core::media::RemoteContent> {
        let fetched = plain_get(&self.http, &self.policy, url, max_bytes).await?;
        Ok(myelin_core::media::RemoteContent {
            bytes: fetched.bytes,
            content_type: fetched.content_type,
            filename: None,
        })
    }

    /// Sends an unauthenticated request (the key endpoints).
    pub async fn send_unsigned<R>(
        &self,
        destination: &ServerName,
        request: R,
    ) -> Result<R::IncomingResponse>
    where
        R: OutgoingRequest<Authentication = NoAuthentication>,
        for<'a> R::PathBuilder: PathBuilder<Input<'a> = ()>,
    {
        let resolved = self.destination(destination).await?;
        let http_request = request
            .try_into_http_request::<Vec<u8>>(&resolved.base_url(), (), ())
            .map_err(|error| Error::Internal(format!("building a federation request: {error}")))?;
        self.execute::<R::IncomingResponse>(
            destination,
            &resolved,
            http_request,
            MAX_RESPONSE_BYTES,
        )
        .await
    }

    async fn execute<T: IncomingResponse>(
        &self,
        destination: &ServerName,
        resolved: &Resolved,
        mut http_request: http::Request<Vec<u8>>,
        max_bytes: u64,
    ) -> Result<T> {
        http_request.headers_mut().insert(
            http::header::HOST,
            http::HeaderValue::from_str(&resolved.host_header)
                .map_err(|error| Error::Internal(error.to_string()))?,
        );
        let method = http_request.method().clone();
        let path = http_request.uri().path().to_owned();
        let request = reqwest::Request::try_from(http_request)
            .map_err(|error| Error::Internal(format!("building a federation request: {error}")))?;
        let response = match self.http.execute(request).await {
            Ok(response) => {
                self.note_reachable(destination, true);
                response
            }
            Err(error) => {
                self.discovery.forget(destination);
                tracing::debug!(%destination, %method, %path, error = %error_chain(&error), "federation request failed");
                // The resolver refusing every address of the name is the address policy
                // speaking: a refusal (403), as for an IP literal, not an outage.
                if format!("{error:?}").contains("ip_range_denylist") {
                    return Err(Error::Forbidden(format!(
                        "Federation to {destination} is refused by federation.ip_range_denylist"
                    )));
                }
                self.note_reachable(destination, false);
                return Err(Error::Unavailable(format!(
                    "{destination} could not be reached: {}",
                    error_chain(&error)
                )));
            }
        };
        let status = response.status();
        let mut builder = http::Response::builder().status(status);
        for (name, value) in response.headers() {
            builder = builder.header(name, value);
        }
        let body = read_limited(response, max_bytes)
            .await
            .map_err(|error| match error {
                Error::TooLarge(_) => Error::TooLarge(format!(
                    "{destination} answered {method} {path} with more than {max_bytes} bytes"
                )),
                other => other,
            })?;
        let http_response = builder
            .body(body.as_ref())
            .map_err(|error| Error::Internal(error.to_string()))?;
        T::try_from_http_response(http_response).map_err(|error| match error {
            FromHttpResponseError::Server(server_error) => {
                remote_error(destination, status, &body, &server_error.to_string())
            }
            other => Error::Unavailable(format!(
                "{destination} answered {method} {path} with something unreadable: {other}"
            )),
        })
    }
}

/// Largest federation answer read (a `send_join` of a huge room is tens of megabytes).
const MAX_RESPONSE_BYTES: u64 = 512 * 1024 * 1024;

/// A remote server's error, in core terms (its errcode decides).
fn remote_error(
    destination: &ServerName,
    status: http::StatusCode,
    body: &[u8],
    fallback: &str,
) -> Error {
    let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let errcode = value
        .get("errcode")
        .and_then(|code| code.as_str())
        .unwrap_or("");
    let message = value
        .get("error")
        .and_then(|message| message.as_str())
        .unwrap_or(fallback);
    let text = format!("{destination}: {message}");
    match (errcode, status.as_u16()) {
        ("M_NOT_FOUND", _) | (_, 404) => Error::NotFound(text),
        ("M_INVITE_BLOCKED", _) => Error::InviteBlocked(text),
        ("M_FORBIDDEN", _) | (_, 403) => Error::Forbidden(text),
        ("M_UNSUPPORTED_ROOM_VERSION" | "M_INCOMPATIBLE_ROOM_VERSION", _) => {
            Error::UnsupportedRoomVersion(text)
        }
        ("M_LIMIT_EXCEEDED", _) | (_, 429) => Error::Unavailable(text),
        (_, 400) => Error::InvalidParam(text),
        _ => Error::Unavailable(format!("{text} (HTTP {status})")),
    }
}

#[cfg(test)]
mod tests {
    use ruma::{
        EventId, OwnedServerName, RoomId,
        api::{
            OutgoingRequestExt as _,
            federation::{
                authentication::XMatrixSigningInput, event::get_event, event::get_room_state_ids,
            },
        },
        signatures::Ed25519KeyPair,
    };

    /// The URI a request is signed with is the one reqwest puts on the wire, whatever the
    /// path holds (Complement's peers verify it byte for byte).
    #[test]
    fn wire_uri_is_the_signed_uri() {
        let document = Ed25519KeyPair::generate();
        let key = Ed25519KeyPair::from_der(&document, "k".into()).expect("a key pair");
        let origin: OwnedServerName = "origin.test".try_into().expect("a name");
        let destination: OwnedServerName = "dest.test:8448".try_into().expect("a name");
        for id in ["$a+b/c=", "$abc:example.org", "$a b|c\"d{e}^`[x]%41"] {
            let event_id = <&EventId>::try_from(id).expect("an event id");
            let request = get_event::v1::Request::new(event_id.to_owned());
            let input = XMatrixSigningInput::new(origin.clone(), destination.clone(), &key);
            let http = request
                .try_into_http_request::<Vec<u8>>("https://127.0.0.1:8448", input, ())
                .expect("a request");
            let signed = http.uri().path_and_query().expect("a path").to_string();
            let wire = reqwest::Request::try_from(http).expect("a reqwest request");
            let url = wire.url();
            let on_wire = match url.query() {
                Some(query) => format!("{}?{query}", url.path()),
                None => url.path().to_owned(),
            };
            assert_eq!(signed, on_wire, "{id}");
            // Event ids in the query (`state_ids`, `backfill`) too.
            let room_id = <&RoomId>::try_from("!room:origin.test").expect("a room id");
            let request =
                get_room_state_ids::v1::Request::new(event_id.to_owned(), room_id.to_owned());
            let input = XMatrixSigningInput::new(origin.clone(), destination.clone(), &key);
            let http = request
                .try_into_http_request::<Vec<u8>>("https://127.0.0.1:8448", input, ())
                .expect("a request");
            let signed = http.uri().path_and_query().expect("a path").to_string();
            let wire = reqwest::Request::try_from(http).expect("a reqwest request");
            let url = wire.url();
            assert_eq!(
                signed,
                format!("{}?{}", url.path(), url.query().unwrap_or_default()),
                "{id}"
            );
        }
    }
}
