//! Traits through which protocol crates reach services another crate implements. The client API
//! needs outbound federation (remote joins, invites, profile and alias queries); the federation
//! crate implements [`Federation`] and the binary plugs it in, so the client API never depends on
//! the federation crate.

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, OnceLock, Weak},
};

use ruma::{OwnedRoomAliasId, OwnedRoomId, OwnedServerName, RoomId, UserId};
use serde_json::Value as JsonValue;

use crate::error::{Error, Result};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Media another server sent us.
pub struct RemoteContent {
    pub bytes: Vec<u8>,
    pub content_type: Option<String>,
    pub filename: Option<String>,
}

/// Profile fields copied into a member event.
#[derive(Debug, Clone, Default)]
pub struct MemberProfile {
    pub displayname: Option<String>,
    pub avatar_url: Option<String>,
    /// Other keys the client put in its join body, kept in the member event as Synapse keeps
    /// them [Complement TestRoomMembers custom content]; the server's own keys win.
    pub extra: serde_json::Map<String, JsonValue>,
}

/// What the federation sender knows of one destination (Synapse's admin `destinations`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationStatus {
    pub destination: OwnedServerName,
    /// When the current run of failures began (ms), while the destination is failing.
    pub failure_ts: Option<u64>,
    /// When it was last tried after a failure (ms; 0 if never).
    pub retry_last_ts: u64,
    /// The current backoff (ms; 0 when not backing off).
    pub retry_interval: u64,
    /// The stream position of the last item it took.
    pub last_successful_stream_ordering: Option<u64>,
    /// PDUs and EDUs waiting for it.
    pub queued: usize,
}

/// Outbound federation, as the client API needs it.
pub trait Federation: Send + Sync {
    /// The destinations the sender knows (since this start, or with items queued).
    fn destinations(&self) -> Vec<DestinationStatus>;

    /// Ends a destination's backoff: its queue is tried at once. `false` for an unknown one.
    fn reset_connection(&self, destination: &ruma::ServerName) -> bool;

    /// Joins a room this server is not in, through one of `via`; returns the room id.
    fn join_remote<'a>(
        &'a self,
        user_id: &'a UserId,
        room_id: &'a RoomId,
        via: Vec<OwnedServerName>,
        profile: MemberProfile,
        reason: Option<String>,
    ) -> BoxFuture<'a, Result<OwnedRoomId>>;

    /// Knocks on a room this server is not in, through one of `via`.
    fn knock_remote<'a>(
        &'a self,
        user_id: &'a UserId,
        room_id: &'a RoomId,
        via: Vec<OwnedServerName>,
        profile: MemberProfile,
        reason: Option<String>,
    ) -> BoxFuture<'a, Result<()>>;

    /// Leaves (or rejects an invite to) a room this server cannot build events in, through a
    /// server that is in it.
    fn leave_remote<'a>(
        &'a self,
        user_id: &'a UserId,
        room_id: &'a RoomId,
        reason: Option<String>,
    ) -> BoxFuture<'a, Result<()>>;

    /// Sends an invite of a user of another server to that server, which signs it; returns the
    /// event with both signatures.
    fn invite_remote<'a>(
        &'a self,
        room_version: &'a ruma::RoomVersionId,
        event_id: &'a ruma::EventId,
        event: &'a ruma::CanonicalJsonObject,
        invite_room_state: Vec<JsonValue>,
    ) -> BoxFuture<'a, Result<ruma::CanonicalJsonObject>>;

    /// Fetches history from before the room's earliest local event from a server in the room;
    /// returns how many events were added.
    fn backfill<'a>(&'a self, room_id: &'a RoomId) -> BoxFuture<'a, Result<usize>>;

    /// Asks the server of `user_id` for their profile (`field` or all of it).
    fn query_profile<'a>(
        &'a self,
        user_id: &'a UserId,
        field: Option<&'a str>,
    ) -> BoxFuture<'a, Result<JsonValue>>;

    /// Asks the alias's server which room it names and which servers are in it.
    fn query_directory<'a>(
        &'a self,
        alias: &'a OwnedRoomAliasId,
    ) -> BoxFuture<'a, Result<(OwnedRoomId, Vec<OwnedServerName>)>>;

    /// A room's summary and children as a server in it sees them (federation `/hierarchy`):
    /// `{"room", "children", "inaccessible_children"}`.
    fn hierarchy<'a>(
        &'a self,
        servers: &'a [OwnedServerName],
        room_id: &'a RoomId,
        suggested_only: bool,
    ) -> BoxFuture<'a, Result<JsonValue>>;

    /// Device keys of users on `server` (`{"device_keys": …}` of `user/keys/query`).
    fn query_keys<'a>(
        &'a self,
        server: &'a ruma::ServerName,
        device_keys: std::collections::BTreeMap<ruma::OwnedUserId, Vec<ruma::OwnedDeviceId>>,
    ) -> BoxFuture<'a, Result<JsonValue>>;

    /// One-time keys claimed from devices on `server` (`{"one_time_keys": …}`).
    fn claim_keys<'a>(
        &'a self,
        server: &'a ruma::ServerName,
        claims: std::collections::BTreeMap<
            ruma::OwnedUserId,
            std::collections::BTreeMap<ruma::OwnedDeviceId, ruma::OneTimeKeyAlgorithm>,
        >,
    ) -> BoxFuture<'a, Result<JsonValue>>;

    /// A remote server's public room list (`GET /publicRooms` body as JSON).
    fn public_rooms<'a>(
        &'a self,
        server: &'a ruma::ServerName,
        request: JsonValue,
    ) -> BoxFuture<'a, Result<JsonValue>>;

    /// Downloads media of another server (at most the configured upload size).
    fn fetch_media<'a>(
        &'a self,
        server: &'a ruma::ServerName,
        media_id: &'a str,
    ) -> BoxFuture<'a, Result<RemoteContent>>;
}

/// The slot the binary plugs the federation service into. It holds the service weakly: the
/// service holds the `Services` this port is part of, and the binary owns it.
#[derive(Clone, Default)]
pub struct FederationPort {
    inner: Arc<OnceLock<Weak<dyn Federation>>>,
}

impl FederationPort {
    pub fn plug(&self, federation: &Arc<dyn Federation>) {
        let _ = self.inner.set(Arc::downgrade(federation));
    }

    /// The federation service, or an error saying federation is off.
    pub fn get(&self) -> Result<Arc<dyn Federation>> {
        self.inner
            .get()
            .and_then(Weak::upgrade)
            .ok_or_else(|| Error::Forbidden("Federation is disabled on this server".into()))
    }
}

/// Delivery to HTTP push gateways (the Push Gateway API). The federation crate implements it
/// with its outbound-address policy (push gateway URLs are user input: the same private ranges
/// are refused as for federation); the binary plugs it in.
pub trait PushGateway: Send + Sync {
    /// POSTs `notification` to the gateway at `url`; returns the pushkeys the gateway rejected.
    /// An error means the notification was not accepted and may be retried.
    fn notify<'a>(
        &'a self,
        url: &'a str,
        notification: JsonValue,
    ) -> BoxFuture<'a, Result<Vec<String>>>;
}

/// A fetched web resource (URL previews).
pub struct FetchedUrl {
    pub bytes: Vec<u8>,
    pub content_type: Option<String>,
}

/// Fetching URLs users linked, for previews: implemented under the preview address policy
/// (private ranges refused unless allowlisted, on every resolved address and redirect).
pub trait UrlFetcher: Send + Sync {
    fn fetch<'a>(&'a self, url: &'a str, max_bytes: u64) -> BoxFuture<'a, Result<FetchedUrl>>;
}

/// Requests to appservices the client API makes (the appservices crate implements it).
pub trait AppserviceQueries: Send + Sync {
    /// Asks the appservice whether a user in its namespace exists (creating it if it likes).
    fn query_user<'a>(
        &'a self,
        appservice_id: &'a str,
        user_id: &'a UserId,
    ) -> BoxFuture<'a, Result<bool>>;

    /// Asks the appservice whether an alias in its namespace exists (creating it if it likes).
    fn query_alias<'a>(
        &'a self,
        appservice_id: &'a str,
        alias: &'a ruma::RoomAliasId,
    ) -> BoxFuture<'a, Result<bool>>;

    /// A third-party lookup (`GET /_matrix/app/v1/thirdparty/...`, `path_and_query` after
    /// `thirdparty/`); the appservice's JSON answer.
    fn thirdparty<'a>(
        &'a self,
        appservice_id: &'a str,
        path_and_query: String,
    ) -> BoxFuture<'a, Result<JsonValue>>;

    /// Pings the appservice (`POST /_matrix/app/v1/ping`); the round trip in milliseconds.
    fn ping<'a>(
        &'a self,
        appservice_id: &'a str,
        transaction_id: Option<String>,
    ) -> BoxFuture<'a, Result<u64>>;
}

/// A slot the binary plugs an implementation into once, at startup (the push gateway client,
/// the URL fetcher, the appservice client). Strong: nothing plugged here holds the services.
pub struct Slot<T: ?Sized> {
    inner: Arc<OnceLock<Arc<T>>>,
}

impl<T: ?Sized> Clone for Slot<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T: ?Sized> Default for Slot<T> {
    fn default() -> Self {
        Self {
            inner: Arc::new(OnceLock::new()),
        }
    }
}

impl<T: ?Sized> Slot<T> {
    pub fn plug(&self, implementation: Arc<T>) {
        let _ = self.inner.set(implementation);
    }

    pub fn get(&self) -> Option<Arc<T>> {
        self.inner.get().cloned()
    }
}

pub type PushGatewayPort = Slot<dyn PushGateway>;
pub type UrlFetcherPort = Slot<dyn UrlFetcher>;
pub type AppserviceQueriesPort = Slot<dyn AppserviceQueries>;
