//! Configuration types: one struct per TOML section, every field defaulted, unknown keys refused.
//! Loading (file, environment overlay, error reporting) belongs to the binary; these are the
//! shapes every crate reads.

use std::{net::SocketAddr, path::PathBuf};

use serde::{Deserialize, Serialize};

use crate::storage::BackendKind;

/// Room versions this server creates and joins: ruma's rules for each decide event format,
/// authorization, redaction and state resolution.
///
/// Version 1 is missing: it resolves state with the first algorithm, which ruma does not
/// implement (and state resolution is not written here).
pub const SUPPORTED_ROOM_VERSIONS: &[ruma::RoomVersionId] = &[
    ruma::RoomVersionId::V2,
    ruma::RoomVersionId::V3,
    ruma::RoomVersionId::V4,
    ruma::RoomVersionId::V5,
    ruma::RoomVersionId::V6,
    ruma::RoomVersionId::V7,
    ruma::RoomVersionId::V8,
    ruma::RoomVersionId::V9,
    ruma::RoomVersionId::V10,
    ruma::RoomVersionId::V11,
    ruma::RoomVersionId::V12,
];

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub client: ClientConfig,
    pub federation: FederationConfig,
    pub registration: RegistrationConfig,
    pub auth: AuthConfig,
    pub rate_limits: RateLimitConfig,
    pub storage: StorageConfig,
    pub rooms: RoomsConfig,
    pub presence: PresenceConfig,
    pub media: MediaConfig,
    pub appservices: AppservicesConfig,
    pub voip: VoipConfig,
    pub server_notices: ServerNoticesConfig,
}

/// TURN servers for VoIP calls, handed to clients by `/voip/turnServer` (Synapse's settings).
/// Server notices: messages from the server's administrators to one user, in a room of their
/// own with the server's notices account (Synapse's `server_notices`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerNoticesConfig {
    /// The notices account's localpart; unset, server notices are off.
    pub system_mxid_localpart: Option<String>,
    /// The notices account's display name.
    pub system_mxid_display_name: Option<String>,
    /// The name of each user's notices room.
    pub room_name: String,
}

impl Default for ServerNoticesConfig {
    fn default() -> Self {
        Self {
            system_mxid_localpart: None,
            system_mxid_display_name: None,
            room_name: "Server Notices".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VoipConfig {
    /// `turn:`/`turns:` URIs; none means clients are told of no TURN server.
    pub turn_uris: Vec<String>,
    /// Shared secret with the TURN server (coturn's `static-auth-secret`): clients get
    /// short-lived credentials made from it. Takes precedence over the fixed credentials.
    pub turn_shared_secret: Option<String>,
    /// Fixed credentials, when the TURN server has no shared secret.
    pub turn_username: Option<String>,
    pub turn_password: Option<String>,
    /// How long credentials made from the shared secret last (seconds).
    pub turn_user_lifetime_secs: u64,
}

impl Default for VoipConfig {
    fn default() -> Self {
        Self {
            turn_uris: Vec::new(),
            turn_shared_secret: None,
            turn_username: None,
            turn_password: None,
            turn_user_lifetime_secs: 86_400,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AppservicesConfig {
    /// Registration files (YAML, as bridges generate them), read at startup.
    pub registration_files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// The server name: the part after the colon in `@alice:example.org`.
    pub name: String,
    /// Where the database and other state live.
    pub data_dir: PathBuf,
    /// Public URL of the client API, advertised in `/.well-known/matrix/client`.
    pub public_baseurl: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            name: "localhost".into(),
            data_dir: PathBuf::from("./myelin-data"),
            public_baseurl: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientConfig {
    /// Address and port of the client-server API listener.
    pub bind: SocketAddr,
    /// Largest request body accepted, in bytes (larger gets `M_TOO_LARGE`).
    pub max_request_bytes: usize,
    /// Origins allowed by CORS; `["*"]` lets browser clients such as Element Web connect.
    pub cors_allowed_origins: Vec<String>,
    /// More content for `/.well-known/matrix/client` (Synapse's `extra_well_known_client_content`),
    /// such as Element Call's `org.matrix.msc4143.rtc_foci`; `m.homeserver` stays Myelin's own.
    pub well_known_extra: serde_json::Map<String, serde_json::Value>,
    /// Most open connections on the client listener. The listener also stays a quarter of the
    /// process's file-descriptor limit (at most 1024) below it, for the store and outbound
    /// requests. At the cap, the connection idle longest is closed to make room; when none is
    /// idle, new connections are refused.
    pub max_connections: usize,
    /// Seconds a connection may take to send a request's headers, counted from when the server
    /// is ready for them: this is also how long an idle keep-alive connection stays open.
    pub header_timeout_secs: u64,
    /// Seconds a request body may stall (no byte arriving) before the request fails.
    pub body_timeout_secs: u64,
    /// Seconds any request may run before it is answered with an error and its work stopped.
    /// Must exceed the longest `/sync` long-poll (300 s).
    pub request_timeout_secs: u64,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8008)),
            max_request_bytes: 1024 * 1024,
            cors_allowed_origins: vec!["*".into()],
            well_known_extra: serde_json::Map::new(),
            max_connections: 8192,
            header_timeout_secs: 30,
            body_timeout_secs: 60,
            request_timeout_secs: 600,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FederationConfig {
    /// Serve the federation listener at all.
    pub enabled: bool,
    /// Address and port of the server-server API listener.
    pub bind: SocketAddr,
    /// Serve federation over TLS (other servers, Synapse among them, only speak HTTPS to it).
    /// Turn off only behind a TLS-terminating reverse proxy.
    pub tls: bool,
    /// PEM certificate chain; with `tls_private_key`. When neither is set, a self-signed pair is
    /// generated in the data directory on first start.
    pub tls_certificate: Option<PathBuf>,
    /// PEM private key for `tls_certificate`.
    pub tls_private_key: Option<PathBuf>,
    /// Check the certificates of servers we connect to. Turn off only for test peers with
    /// self-signed certificates.
    pub verify_certificates: bool,
    /// Address ranges (CIDR) outbound federation (and push gateway delivery) never connects to. The default is every
    /// private, loopback, link-local and otherwise non-public range, as Synapse's.
    pub ip_range_denylist: Vec<String>,
    /// Ranges allowed even when the denylist covers them (tests use `["127.0.0.0/8"]`).
    pub ip_range_allowlist: Vec<String>,
    /// Notary servers asked for other servers' keys. Empty: ask each server directly.
    pub trusted_key_servers: Vec<TrustedKeyServer>,
    /// When not empty, only these server names may federate with us (both directions).
    pub domain_allowlist: Vec<String>,
    /// Server names we never federate with.
    pub domain_denylist: Vec<String>,
    /// Largest inbound federation request body, in bytes.
    pub max_request_bytes: usize,
}

/// A notary server and the keys its answers must be signed with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedKeyServer {
    pub server_name: String,
    /// `key id → base64 public key`; empty trusts whatever key the notary presents.
    #[serde(default)]
    pub verify_keys: std::collections::BTreeMap<String, String>,
}

/// Synapse's default `ip_range_blacklist`.
pub const DEFAULT_IP_RANGE_DENYLIST: &[&str] = &[
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "192.0.0.0/24",
    "169.254.0.0/16",
    "192.88.99.0/24",
    "198.18.0.0/15",
    "192.0.2.0/24",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "0.0.0.0/8",
    "255.255.255.255/32",
    "::1/128",
    "::/128",
    "fe80::/10",
    "fc00::/7",
    "2001:db8::/32",
    "ff00::/8",
    "fec0::/10",
];

impl Default for FederationConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            bind: SocketAddr::from(([127, 0, 0, 1], 8448)),
            tls: true,
            tls_certificate: None,
            tls_private_key: None,
            verify_certificates: true,
            ip_range_denylist: DEFAULT_IP_RANGE_DENYLIST
                .iter()
                .map(|range| (*range).to_owned())
                .collect(),
            ip_range_allowlist: Vec::new(),
            trusted_key_servers: Vec::new(),
            domain_allowlist: Vec::new(),
            domain_denylist: Vec::new(),
            max_request_bytes: 50 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrationConfig {
    /// Anyone may register with `m.login.dummy`. Off by default.
    pub open: bool,
    /// Registration tokens accepted without limit of uses (`m.login.registration_token`).
    /// Tokens with limits are made with `myelin registration-token create`.
    pub tokens: Vec<String>,
    /// On the first start of an empty server, create a one-use registration token and print it.
    pub first_start_token: bool,
    /// Shortest password accepted.
    pub min_password_length: usize,
    /// The secret of Synapse's shared-secret registration (`POST /_synapse/admin/v1/register`,
    /// which scripts and `register_new_matrix_user` use to make accounts, admins too); unset:
    /// that endpoint is off.
    pub registration_shared_secret: Option<String>,
}

impl Default for RegistrationConfig {
    fn default() -> Self {
        Self {
            open: false,
            tokens: Vec::new(),
            first_start_token: true,
            min_password_length: 8,
            registration_shared_secret: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Lifetime of access tokens issued together with a refresh token. Tokens issued without
    /// one never expire, as in Synapse.
    pub refreshable_access_token_lifetime_ms: u64,
    /// Lifetime of `m.login.token` tokens from `POST /login/get_token`.
    pub login_token_lifetime_ms: u64,
    /// How long a user-interactive authentication session stays usable.
    pub uia_session_lifetime_ms: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            refreshable_access_token_lifetime_ms: 5 * 60 * 1000,
            login_token_lifetime_ms: 2 * 60 * 1000,
            uia_session_lifetime_ms: 15 * 60 * 1000,
        }
    }
}

/// A token bucket: `per_second` tokens refill each second, at most `burst` saved up.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Bucket {
    pub per_second: f64,
    pub burst: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Turn every limit on or off.
    pub enabled: bool,
    /// Login attempts per client IP address.
    pub login_per_ip: Bucket,
    /// Login attempts per account.
    pub login_per_account: Bucket,
    /// Registration attempts per client IP address.
    pub registration_per_ip: Bucket,
    /// Events (messages, state, redactions) sent per user.
    pub messages_per_user: Bucket,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        // Synapse's defaults (rc_login, rc_registration).
        Self {
            enabled: true,
            login_per_ip: Bucket {
                per_second: 0.17,
                burst: 3,
            },
            login_per_account: Bucket {
                per_second: 0.17,
                burst: 3,
            },
            registration_per_ip: Bucket {
                per_second: 0.17,
                burst: 3,
            },
            // Synapse's rc_message.
            messages_per_user: Bucket {
                per_second: 0.2,
                burst: 10,
            },
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `redb` (default) or `sled`.
    pub backend: BackendKind,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoomsConfig {
    /// Room version of new rooms when the client does not ask for one: "2" to "12".
    pub default_room_version: ruma::RoomVersionId,
    /// Longest delay of a delayed event (MSC4140, what Element Call uses to end a crashed
    /// client's call membership), in seconds; 0 turns delayed events off.
    pub max_event_delay_secs: u64,
    /// Most delayed events one user may have waiting.
    pub max_delayed_events_per_user: usize,
}

impl Default for RoomsConfig {
    fn default() -> Self {
        // 12 is Synapse's default too.
        Self {
            default_room_version: ruma::RoomVersionId::V12,
            max_event_delay_secs: 7 * 24 * 3600,
            max_delayed_events_per_user: 100,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PresenceConfig {
    /// Track and share presence (online, unavailable, offline). Off, presence updates are
    /// accepted and ignored and everyone appears offline, as in Synapse.
    pub enabled: bool,
}

impl Default for PresenceConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// Largest file a user may upload, and largest remote file fetched (bytes).
    pub max_upload_bytes: u64,
    /// Total bytes one user may have uploaded; none by default.
    pub user_quota_bytes: Option<u64>,
    /// The page a user over their quota is sent to (`info_uri` of `M_USER_LIMIT_EXCEEDED`);
    /// by default the server's public base URL.
    pub quota_info_uri: Option<String>,
    /// Serve the legacy unauthenticated `/_matrix/media/v3/download` and `/thumbnail`
    /// endpoints (Synapse turned them off by default in 1.120; so does Myelin).
    pub legacy_unauthenticated: bool,
    /// How long a media id from `POST /_matrix/media/v1/create` waits for its upload (ms).
    pub unused_id_lifetime_ms: u64,
    /// Delete cached remote media not accessed for this many days (none: keep).
    pub remote_retention_days: Option<u64>,
    /// Delete local media not accessed for this many days (none: keep).
    pub local_retention_days: Option<u64>,
    /// Largest image (in pixels) that thumbnails are made of.
    pub max_thumbnail_source_pixels: u64,
    /// Serve `GET /_matrix/client/v1/media/preview_url` (the server fetches pages users link).
    pub url_preview_enabled: bool,
    /// Address ranges previews never fetch from (default: the private, loopback and
    /// link-local ranges, as federation's).
    pub url_preview_ip_range_denylist: Vec<String>,
    /// Ranges allowed even when the denylist covers them.
    pub url_preview_ip_range_allowlist: Vec<String>,
    /// Largest page or image a preview downloads (bytes).
    pub url_preview_max_bytes: u64,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: 50 * 1024 * 1024,
            user_quota_bytes: None,
            quota_info_uri: None,
            legacy_unauthenticated: false,
            unused_id_lifetime_ms: 24 * 3600 * 1000,
            remote_retention_days: None,
            local_retention_days: None,
            max_thumbnail_source_pixels: 32_000_000,
            url_preview_enabled: false,
            url_preview_ip_range_denylist: DEFAULT_IP_RANGE_DENYLIST
                .iter()
                .map(|range| (*range).to_owned())
                .collect(),
            url_preview_ip_range_allowlist: Vec::new(),
            url_preview_max_bytes: 10 * 1024 * 1024,
        }
    }
}

impl Config {
    /// The URL clients reach the client API at: `server.public_baseurl`, or else what the
    /// client listener's address gives.
    pub fn client_base_url(&self) -> String {
        self.server.public_baseurl.clone().unwrap_or_else(|| {
            let bind = self.client.bind;
            if bind.ip().is_unspecified() {
                format!("http://{}:{}", self.server.name, bind.port())
            } else {
                format!("http://{bind}")
            }
        })
    }

    /// Checks what serde cannot: returns the dotted key and the reason of the first problem.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if ruma::ServerName::parse(&self.server.name).is_err() {
            return Err((
                "server.name".into(),
                format!("`{}` is not a valid server name", self.server.name),
            ));
        }
        if self.server.data_dir.as_os_str().is_empty() {
            return Err(("server.data_dir".into(), "must not be empty".into()));
        }
        if !SUPPORTED_ROOM_VERSIONS.contains(&self.rooms.default_room_version) {
            return Err((
                "rooms.default_room_version".into(),
                format!(
                    "room version {} is not supported (10, 11 or 12)",
                    self.rooms.default_room_version
                ),
            ));
        }
        if self.federation.tls_certificate.is_some() != self.federation.tls_private_key.is_some() {
            return Err((
                "federation.tls_certificate".into(),
                "set both tls_certificate and tls_private_key, or neither".into(),
            ));
        }
        if self.client.max_request_bytes < 1024 {
            return Err((
                "client.max_request_bytes".into(),
                "must be at least 1024".into(),
            ));
        }
        for (key, bucket) in [
            ("rate_limits.login_per_ip", self.rate_limits.login_per_ip),
            (
                "rate_limits.login_per_account",
                self.rate_limits.login_per_account,
            ),
            (
                "rate_limits.registration_per_ip",
                self.rate_limits.registration_per_ip,
            ),
            (
                "rate_limits.messages_per_user",
                self.rate_limits.messages_per_user,
            ),
        ] {
            if !(bucket.per_second > 0.0 && bucket.per_second.is_finite()) || bucket.burst == 0 {
                return Err((
                    key.into(),
                    "per_second must be positive and burst at least 1".into(),
                ));
            }
        }
        Ok(())
    }
}
