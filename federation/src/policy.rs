//! Who we federate with and where outbound connections may go: the IP-range deny/allow lists
//! (checked on every address a name resolves to, so DNS cannot smuggle a request into the
//! private network) and the domain allow/deny lists.

use std::net::IpAddr;

use ipnet::IpNet;
use myelin_core::{Error, Result, config::FederationConfig};
use ruma::ServerName;

#[derive(Debug, Clone)]
pub struct Policy {
    denied: Vec<IpNet>,
    allowed: Vec<IpNet>,
    domain_allowlist: Vec<String>,
    domain_denylist: Vec<String>,
}

fn parse_ranges(ranges: &[String], key: &str) -> Result<Vec<IpNet>> {
    ranges
        .iter()
        .map(|range| {
            range
                .parse::<IpNet>()
                .or_else(|_| range.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| Error::InvalidParam(format!("{key}: {range:?} is not an IP range")))
        })
        .collect()
}

impl Policy {
    /// A policy of address ranges only (no domain lists): URL previews.
    pub fn from_ranges(denied: &[String], allowed: &[String], section: &str) -> Result<Self> {
        Ok(Self {
            denied: parse_ranges(denied, &format!("{section}ip_range_denylist"))?,
            allowed: parse_ranges(allowed, &format!("{section}ip_range_allowlist"))?,
            domain_allowlist: Vec::new(),
            domain_denylist: Vec::new(),
        })
    }

    pub fn from_config(config: &FederationConfig) -> Result<Self> {
        Ok(Self {
            denied: parse_ranges(&config.ip_range_denylist, "federation.ip_range_denylist")?,
            allowed: parse_ranges(&config.ip_range_allowlist, "federation.ip_range_allowlist")?,
            domain_allowlist: config.domain_allowlist.clone(),
            domain_denylist: config.domain_denylist.clone(),
        })
    }

    /// Whether outbound connections to `ip` are allowed. IPv4-mapped IPv6 addresses are judged
    /// as the IPv4 address they carry.
    pub fn ip_allowed(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        if self.allowed.iter().any(|range| range.contains(&ip)) {
            return true;
        }
        !self.denied.iter().any(|range| range.contains(&ip))
    }

    /// Whether we federate with `server` at all (domain lists; the port is ignored).
    pub fn server_allowed(&self, server: &ServerName) -> bool {
        let host = server.host();
        if self
            .domain_denylist
            .iter()
            .any(|denied| denied == host || denied == server.as_str())
        {
            return false;
        }
        self.domain_allowlist.is_empty()
            || self
                .domain_allowlist
                .iter()
                .any(|allowed| allowed == host || allowed == server.as_str())
    }

    /// Refuses, before any lookup or connection: a server name no server can have (400), a
    /// server the domain lists exclude, or an IP literal in a denied range (403).
    pub fn check_server(&self, server: &ServerName) -> Result<()> {
        check_server_name(server)?;
        if !self.server_allowed(server) {
            return Err(Error::Forbidden(format!(
                "Federation with {server} is not allowed by this server's configuration"
            )));
        }
        let literal = server.host().trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>()
            && !self.ip_allowed(ip)
        {
            return Err(Error::Forbidden(format!(
                "Federation to {server} is refused by federation.ip_range_denylist"
            )));
        }
        Ok(())
    }
}

/// What ruma's grammar lets through but no server can be: a dotted quad that is no IPv4
/// address (`256.256.256.256`), empty or over-long DNS labels, port 0.
pub fn check_server_name(server: &ServerName) -> Result<()> {
    let invalid = |why: &str| {
        Err(Error::InvalidParam(format!(
            "Invalid server name {server}: {why}"
        )))
    };
    if server.port() == Some(0) {
        return invalid("port 0");
    }
    let host = server.host();
    if host.starts_with('[') {
        return Ok(());
    }
    if host
        .bytes()
        .all(|byte| byte.is_ascii_digit() || byte == b'.')
    {
        return match host.parse::<std::net::Ipv4Addr>() {
            Ok(_) => Ok(()),
            Err(_) => invalid("not an IPv4 address"),
        };
    }
    if host.len() > 253 {
        return invalid("the host name is too long");
    }
    if host
        .split('.')
        .any(|label| label.is_empty() || label.len() > 63)
    {
        return invalid("empty or over-long label");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allow: &[&str]) -> Policy {
        let config = FederationConfig {
            ip_range_allowlist: allow.iter().map(|range| (*range).to_owned()).collect(),
            domain_denylist: vec!["evil.example".into()],
            ..FederationConfig::default()
        };
        Policy::from_config(&config).expect("valid ranges")
    }

    #[test]
    fn names_no_server_can_have_are_refused_before_any_lookup() {
        let policy = policy(&[]);
        fn name(text: &str) -> &ServerName {
            <&ServerName>::try_from(text).expect("ruma accepts it")
        }
        for invalid in [
            "256.256.256.256",
            "1.2.3",
            "a..b",
            "example.org:0",
            &format!("{}.org", "a".repeat(64)),
        ] {
            assert!(
                matches!(
                    policy.check_server(name(invalid)),
                    Err(Error::InvalidParam(_))
                ),
                "{invalid}"
            );
        }
        assert!(matches!(
            policy.check_server(name("127.0.0.1:8448")),
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            policy.check_server(name("[::1]")),
            Err(Error::Forbidden(_))
        ));
        for valid in [
            "example.org",
            "example.org:8448",
            "1.2.3.4",
            "[2001:db9::1]:8448",
        ] {
            assert!(policy.check_server(name(valid)).is_ok(), "{valid}");
        }
    }

    #[test]
    fn private_ranges_are_refused_by_default() {
        let policy = policy(&[]);
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.5",
            "169.254.1.1",
            "::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(
                !policy.ip_allowed(ip.parse().expect("ip")),
                "{ip} must be refused"
            );
        }
        for ip in ["8.8.8.8", "2606:4700::1111"] {
            assert!(
                policy.ip_allowed(ip.parse().expect("ip")),
                "{ip} must be allowed"
            );
        }
    }

    #[test]
    fn allowlist_opens_a_denied_range() {
        let policy = policy(&["127.0.0.0/8"]);
        assert!(policy.ip_allowed("127.0.0.1".parse().expect("ip")));
        assert!(!policy.ip_allowed("10.0.0.1".parse().expect("ip")));
    }

    #[test]
    fn domain_lists() {
        let policy = policy(&[]);
        let evil = <&ServerName>::try_from("evil.example:8448").expect("server name");
        let good = <&ServerName>::try_from("good.example").expect("server name");
        assert!(!policy.server_allowed(evil));
        assert!(policy.server_allowed(good));
        let config = FederationConfig {
            domain_allowlist: vec!["good.example".into()],
            ..FederationConfig::default()
        };
        let only_good = Policy::from_config(&config).expect("policy");
        assert!(only_good.server_allowed(good));
        assert!(!only_good.server_allowed(<&ServerName>::try_from("other.example").expect("name")));
    }

    #[test]
    fn bad_range_is_a_config_error() {
        let config = FederationConfig {
            ip_range_allowlist: vec!["not-a-range".into()],
            ..FederationConfig::default()
        };
        assert!(Policy::from_config(&config).is_err());
    }
}
