//! Server discovery, in the order the spec gives: IP literal; explicit port;
//! `/.well-known/matrix/server` delegation (then the same steps for the delegated name); SRV
//! `_matrix-fed._tcp` then the deprecated `_matrix._tcp`; port 8448. Results are cached.

use myelin_core::lock;
use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

use myelin_core::ports::BoxFuture;
use ruma::ServerName;

/// Where requests for a server name go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Host in the URL: what TLS checks the certificate against (an IP literal or a name).
    pub host: String,
    pub port: u16,
    /// `Host` header value.
    pub host_header: String,
    /// For SRV results: the name whose addresses `host` stands for.
    pub connect_to: Option<String>,
}

impl Resolved {
    pub fn base_url(&self) -> String {
        match self.host.parse::<IpAddr>() {
            Ok(IpAddr::V6(ip)) => format!("https://[{ip}]:{}", self.port),
            _ => format!("https://{}:{}", self.host, self.port),
        }
    }
}

/// The lookups discovery needs; the real ones use HTTPS and DNS, tests use a table.
pub trait Lookups: Send + Sync {
    /// `m.server` of `https://<hostname>/.well-known/matrix/server`, with how long to cache it.
    fn well_known<'a>(&'a self, hostname: &'a str) -> BoxFuture<'a, Option<(String, Duration)>>;
    /// The preferred `(target, port)` of an SRV name such as `_matrix-fed._tcp.example.org`.
    fn srv<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Option<(String, u16)>>;
}

/// Splits `host[:port]`, IPv6 literals in brackets.
pub fn split_host_port(name: &str) -> (String, Option<u16>) {
    if let Some(rest) = name.strip_prefix('[') {
        if let Some((ip, tail)) = rest.split_once(']') {
            let port = tail.strip_prefix(':').and_then(|port| port.parse().ok());
            return (ip.to_owned(), port);
        }
        return (name.to_owned(), None);
    }
    match name.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(port) => (host.to_owned(), Some(port)),
            Err(_) => (name.to_owned(), None),
        },
        _ => (name.to_owned(), None),
    }
}

const DEFAULT_PORT: u16 = 8448;
/// Without a well-known document the answer is cached this long.
const NO_WELL_KNOWN_TTL: Duration = Duration::from_secs(3600);

/// Resolves one name without well-known (steps 1, 2, 4–6 of the spec, or 3.1–3.5 for a
/// delegated name).
async fn resolve_without_well_known(lookups: &dyn Lookups, name: &str) -> Resolved {
    let (host, port) = split_host_port(name);
    if host.parse::<IpAddr>().is_ok() || port.is_some() {
        return Resolved {
            host,
            port: port.unwrap_or(DEFAULT_PORT),
            host_header: name.to_owned(),
            connect_to: None,
        };
    }
    for prefix in ["_matrix-fed._tcp", "_matrix._tcp"] {
        if let Some((target, srv_port)) = lookups.srv(&format!("{prefix}.{host}")).await {
            return Resolved {
                host: host.clone(),
                port: srv_port,
                host_header: host,
                connect_to: Some(target.trim_end_matches('.').to_owned()),
            };
        }
    }
    Resolved {
        host: host.clone(),
        port: DEFAULT_PORT,
        host_header: host,
        connect_to: None,
    }
}

/// The full discovery of a server name, and how long the answer holds.
pub async fn resolve(lookups: &dyn Lookups, server: &ServerName) -> (Resolved, Duration) {
    let (host, port) = split_host_port(server.as_str());
    if host.parse::<IpAddr>().is_ok() || port.is_some() {
        return (
            resolve_without_well_known(lookups, server.as_str()).await,
            NO_WELL_KNOWN_TTL,
        );
    }
    if let Some((delegated, ttl)) = lookups.well_known(&host).await {
        return (resolve_without_well_known(lookups, &delegated).await, ttl);
    }
    (
        resolve_without_well_known(lookups, &host).await,
        NO_WELL_KNOWN_TTL,
    )
}

/// Cached discovery.
#[derive(Default)]
pub struct Discovery {
    cache: Mutex<HashMap<String, (Resolved, Instant)>>,
}

impl Discovery {
    pub async fn resolve(&self, lookups: &dyn Lookups, server: &ServerName) -> Resolved {
        if let Some((resolved, until)) = lock(&self.cache).get(server.as_str())
            && *until > Instant::now()
        {
            return resolved.clone();
        }
        let (resolved, ttl) = resolve(lookups, server).await;
        let mut cache = lock(&self.cache);
        if cache.len() > 10_000 {
            let now = Instant::now();
            cache.retain(|_, (_, until)| *until > now);
        }
        cache.insert(
            server.as_str().to_owned(),
            (resolved.clone(), Instant::now() + ttl),
        );
        resolved
    }

    /// Forgets a server's answer (after its connection failed), so a changed delegation is seen.
    pub fn forget(&self, server: &ServerName) {
        lock(&self.cache).remove(server.as_str());
    }
}

/// Parses a well-known document's `m.server`; `None` when it is missing or not a server name.
pub fn parse_well_known(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let delegated = value.get("m.server")?.as_str()?;
    <&ServerName>::try_from(delegated).ok()?;
    Some(delegated.to_owned())
}

/// Cache lifetime of a well-known answer: its `max-age`, within [1 h, 48 h], else 24 h.
pub fn well_known_ttl(cache_control: Option<&str>) -> Duration {
    let max_age = cache_control.and_then(|value| {
        value.split(',').find_map(|part| {
            part.trim()
                .strip_prefix("max-age=")
                .and_then(|seconds| seconds.parse::<u64>().ok())
        })
    });
    Duration::from_secs(max_age.unwrap_or(24 * 3600).clamp(3600, 48 * 3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Table {
        well_known: HashMap<String, String>,
        srv: HashMap<String, (String, u16)>,
    }

    impl Lookups for Table {
        fn well_known<'a>(
            &'a self,
            hostname: &'a str,
        ) -> BoxFuture<'a, Option<(String, Duration)>> {
            Box::pin(async move {
                self.well_known
                    .get(hostname)
                    .map(|server| (server.clone(), Duration::from_secs(7200)))
            })
        }
        fn srv<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Option<(String, u16)>> {
            Box::pin(async move { self.srv.get(name).cloned() })
        }
    }

    fn name(value: &str) -> &ServerName {
        <&ServerName>::try_from(value).expect("server name")
    }

    async fn run(table: &Table, server: &str) -> Resolved {
        resolve(table, name(server)).await.0
    }

    fn expect(host: &str, port: u16, header: &str, connect_to: Option<&str>) -> Resolved {
        Resolved {
            host: host.into(),
            port,
            host_header: header.into(),
            connect_to: connect_to.map(Into::into),
        }
    }

    #[tokio::test]
    async fn follows_the_spec_order() {
        let mut table = Table::default();
        // Well-known would win if it were asked; IP literals and explicit ports skip it.
        table
            .well_known
            .insert("1.2.3.4".into(), "elsewhere.example".into());
        table
            .well_known
            .insert("ported.example".into(), "elsewhere.example".into());
        assert_eq!(
            run(&table, "1.2.3.4").await,
            expect("1.2.3.4", 8448, "1.2.3.4", None)
        );
        assert_eq!(
            run(&table, "1.2.3.4:99").await,
            expect("1.2.3.4", 99, "1.2.3.4:99", None)
        );
        assert_eq!(
            run(&table, "[::1]:99").await,
            expect("::1", 99, "[::1]:99", None)
        );
        assert_eq!(
            run(&table, "ported.example:8000").await,
            expect("ported.example", 8000, "ported.example:8000", None)
        );

        // Well-known delegation, then the delegated name's own steps.
        table
            .well_known
            .insert("a.example".into(), "matrix.a.example:443".into());
        assert_eq!(
            run(&table, "a.example").await,
            expect("matrix.a.example", 443, "matrix.a.example:443", None)
        );
        table
            .well_known
            .insert("b.example".into(), "deleg.b.example".into());
        table.srv.insert(
            "_matrix-fed._tcp.deleg.b.example".into(),
            ("srv.b.example.".into(), 8888),
        );
        assert_eq!(
            run(&table, "b.example").await,
            expect(
                "deleg.b.example",
                8888,
                "deleg.b.example",
                Some("srv.b.example")
            )
        );
        table
            .well_known
            .insert("c.example".into(), "deleg.c.example".into());
        assert_eq!(
            run(&table, "c.example").await,
            expect("deleg.c.example", 8448, "deleg.c.example", None)
        );

        // No well-known: SRV (the new name first, then the deprecated one), then 8448.
        table.srv.insert(
            "_matrix-fed._tcp.d.example".into(),
            ("fed.d.example".into(), 1111),
        );
        table.srv.insert(
            "_matrix._tcp.d.example".into(),
            ("old.d.example".into(), 2222),
        );
        assert_eq!(
            run(&table, "d.example").await,
            expect("d.example", 1111, "d.example", Some("fed.d.example"))
        );
        table.srv.insert(
            "_matrix._tcp.e.example".into(),
            ("old.e.example".into(), 2222),
        );
        assert_eq!(
            run(&table, "e.example").await,
            expect("e.example", 2222, "e.example", Some("old.e.example"))
        );
        assert_eq!(
            run(&table, "f.example").await,
            expect("f.example", 8448, "f.example", None)
        );
    }

    #[test]
    fn well_known_parsing_and_ttl() {
        assert_eq!(
            parse_well_known(br#"{"m.server":"x.example:443"}"#),
            Some("x.example:443".into())
        );
        assert_eq!(parse_well_known(br#"{"m.server":"not a name"}"#), None);
        assert_eq!(parse_well_known(b"<html>"), None);
        assert_eq!(
            well_known_ttl(Some("public, max-age=7200")),
            Duration::from_secs(7200)
        );
        assert_eq!(well_known_ttl(Some("max-age=5")), Duration::from_secs(3600));
        assert_eq!(well_known_ttl(None), Duration::from_secs(86400));
    }

    #[test]
    fn base_urls() {
        assert_eq!(expect("::1", 8, "", None).base_url(), "https://[::1]:8");
        assert_eq!(
            expect("a.example", 8, "", None).base_url(),
            "https://a.example:8"
        );
    }
}
