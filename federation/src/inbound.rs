//! Checking and placing remote PDUs: room version format, size, signatures and content hash
//! (redacted when the hash fails), server ACLs, missing auth events from `event_auth`, missing
//! `prev_events` from `get_missing_events`, and, when a gap remains, the state before the event
//! from `state_ids`. Placement itself (authorization, state resolution, soft failure) is
//! `myelin_core::rooms::ingest`.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use myelin_core::{
    Error, Result,
    rooms::{IngestOutcome, PduEvent, RemoteEvent, StateMap},
    stream::Deferred,
};
use ruma::{
    CanonicalJsonObject, EventId, OwnedEventId, OwnedServerName, RoomId, ServerName, UInt,
    api::federation::event::{get_event, get_missing_events, get_room_state_ids},
    room_version_rules::RoomVersionRules,
};
use serde_json::Value as JsonValue;

use crate::Federation;

/// Events fetched through `get_missing_events` at most, per incoming event.
const MISSING_EVENTS_LIMIT: u32 = 20;

impl Federation {
    pub(crate) fn room_rules(&self, room_id: &RoomId) -> Result<RoomVersionRules> {
        let info = self.services.rooms.existing_room(room_id)?;
        info.room_version.rules().ok_or_else(|| {
            Error::UnsupportedRoomVersion(format!(
                "Room version {} is not supported",
                info.room_version
            ))
        })
    }

    /// Parses, sizes, verifies (redacting on a bad content hash) and names a PDU.
    pub(crate) async fn check_pdu(
        &self,
        value: &JsonValue,
        rules: &RoomVersionRules,
    ) -> Result<RemoteEvent> {
        self.check_pdus(std::slice::from_ref(value), rules)
            .await
            .pop()
            .unwrap_or_else(|| Err(Error::Internal("no result for a PDU".into())))
    }

    /// [`Federation::check_pdu`] for many PDUs of one room version at once: the hashing and
    /// signature checks run in parallel on every core, with each server's keys fetched once.
    pub(crate) async fn check_pdus(
        &self,
        values: &[JsonValue],
        rules: &RoomVersionRules,
    ) -> Vec<Result<RemoteEvent>> {
        let prepared = in_parallel(values.to_vec(), rules, prepare).await;
        // Every key the signatures name, fetched once per server.
        let mut wanted: BTreeMap<OwnedServerName, BTreeSet<String>> = BTreeMap::new();
        for pdu in prepared.iter().flatten() {
            for server in &pdu.servers {
                let ids = pdu
                    .check
                    .get("signatures")
                    .and_then(|value| value.as_object())
                    .and_then(|all| all.get(server.as_str()))
                    .and_then(|value| value.as_object())
                    .map(|keys| keys.keys().cloned().collect::<Vec<_>>())
                    .unwrap_or_default();
                wanted.entry(server.clone()).or_default().extend(ids);
            }
        }
        let mut keys = BTreeMap::new();
        for (server, ids) in wanted {
            let ids: Vec<String> = ids.into_iter().collect();
            match self.keys.server_keys(&server, &ids).await {
                Ok(found) => {
                    keys.insert(server, found);
                }
                Err(error) => tracing::info!(%server, %error, "no keys to check signatures with"),
            }
        }
        let keys = Arc::new(keys);
        let items: Vec<(Result<Prepared>, Arc<_>)> = prepared
            .into_iter()
            .map(|pdu| (pdu, Arc::clone(&keys)))
            .collect();
        in_parallel(items, rules, |(pdu, keys), rules| {
            finish(pdu?, &keys, rules)
        })
        .await
    }

    /// Whether `server` may take part in the room per its `m.room.server_acl`.
    pub(crate) fn acl_allows(&self, room_id: &RoomId, server: &ServerName) -> Result<bool> {
        self.services.rooms.server_acl_allows(room_id, server)
    }

    /// Handles one PDU of a transaction (or one fetched for it). `depth` bounds the recursion of
    /// fetching missing events.
    pub(crate) async fn handle_pdu(
        &self,
        deferred: &Deferred<'_>,
        origin: &ServerName,
        room_id: &RoomId,
        value: &JsonValue,
        depth: u8,
    ) -> Result<(OwnedEventId, IngestOutcome)> {
        let rules = self.room_rules(room_id)?;
        let event = self.check_pdu(value, &rules).await?;
        self.handle_checked(deferred, origin, room_id, event, &rules, depth)
            .await
    }

    /// [`Federation::handle_pdu`] for a PDU whose signatures and hashes were checked. What it
    /// stores is made durable by the caller's next durable commit (the transaction's result).
    pub(crate) async fn handle_checked(
        &self,
        deferred: &Deferred<'_>,
        origin: &ServerName,
        room_id: &RoomId,
        event: RemoteEvent,
        rules: &RoomVersionRules,
        depth: u8,
    ) -> Result<(OwnedEventId, IngestOutcome)> {
        let rules = rules.clone();
        let pdu = event.pdu()?;
        if pdu.room() != room_id {
            return Err(Error::InvalidParam("PDU is for another room".into()));
        }
        if !self.acl_allows(room_id, pdu.sender.server_name())?
            || !self.acl_allows(room_id, origin)?
        {
            return Err(Error::Forbidden(
                "The room's server ACL forbids this server".into(),
            ));
        }
        if self.services.rooms.is_placed(&event.event_id)? {
            return Ok((event.event_id, IngestOutcome::AlreadyKnown));
        }
        self.fetch_auth_events(deferred, origin, room_id, &pdu, &rules)
            .await?;

        let mut state_before = None;
        if !self.services.rooms.missing_prev_events(&pdu)?.is_empty() {
            // As Synapse: one `get_missing_events` for an event a transaction brought (the
            // events it returns do not ask again), then the state after each prev event still
            // missing, from `state_ids` at that event [Complement TestCorruptedAuthChain].
            if depth == 0 {
                self.fetch_missing_prevs(deferred, origin, room_id, &pdu, depth)
                    .await;
            }
            if !self.services.rooms.missing_prev_events(&pdu)?.is_empty() {
                state_before = Some(
                    self.fetch_state_after_prevs(deferred, origin, room_id, &pdu, &rules)
                        .await?,
                );
            }
        }
        let event_id = event.event_id.clone();
        let outcome = self
            .services
            .rooms
            .ingest_unflushed(room_id, event, state_before, deferred)
            .await?;
        Ok((event_id, outcome))
    }

    /// Makes what the transaction placed so far durable and readable before asking another
    /// server for something (which can take seconds).
    async fn release_before_network(&self, deferred: &Deferred<'_>) -> Result<()> {
        deferred.release(&self.services.store).await
    }

    /// Stores the auth chain of `pdu` when some of its auth events are unknown.
    pub(crate) async fn fetch_auth_events(
        &self,
        deferred: &Deferred<'_>,
        origin: &ServerName,
        room_id: &RoomId,
        pdu: &PduEvent,
        rules: &RoomVersionRules,
    ) -> Result<()> {
        let mut missing = Vec::new();
        for id in &pdu.auth_events {
            if !self.services.rooms.has_event(id)? {
                missing.push(id.clone());
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        self.release_before_network(deferred).await?;
        let response = self
            .client
            .send(
                origin,
                ruma::api::federation::authorization::get_event_authorization::v1::Request::new(
                    room_id.to_owned(),
                    pdu.event_id.clone(),
                ),
            )
            .await;
        let chain: Vec<JsonValue> = match response {
            Ok(response) => response
                .auth_chain
                .iter()
                .filter_map(|raw| serde_json::from_str(raw.get()).ok())
                .collect(),
            Err(error) => {
                tracing::debug!(%error, "event_auth failed; fetching auth events one by one");
                let mut events = Vec::new();
                for id in &missing {
                    events.push(self.fetch_event(origin, id).await?);
                }
                events
            }
        };
        let mut verified = Vec::new();
        for checked in self.check_pdus(&chain, rules).await {
            match checked {
                Ok(event) => verified.push(event),
                Err(error) => tracing::info!(%error, "dropping a bad auth chain event"),
            }
        }
        self.services.rooms.store_outliers(&verified).await?;
        for id in &pdu.auth_events {
            if !self.services.rooms.has_event(id)? {
                return Err(Error::BadState(format!(
                    "auth event {id} of {} could not be fetched",
                    pdu.event_id
                )));
            }
        }
        Ok(())
    }

    async fn fetch_event(&self, origin: &ServerName, event_id: &EventId) -> Result<JsonValue> {
        let response = self
            .client
            .send(origin, get_event::v1::Request::new(event_id.to_owned()))
            .await?;
        serde_json::from_str(response.pdu.get()).map_err(|error| Error::BadJson(error.to_string()))
    }

    /// Asks the origin for the events between our extremities and `pdu`, and handles them oldest
    /// first. Failures leave the gap for `state_ids` to bridge.
    pub(crate) async fn fetch_missing_prevs(
        &self,
        deferred: &Deferred<'_>,
        origin: &ServerName,
        room_id: &RoomId,
        pdu: &PduEvent,
        depth: u8,
    ) {
        let Ok(info) = self.services.rooms.existing_room(room_id) else {
            return;
        };
        if let Err(error) = self.release_before_network(deferred).await {
            tracing::warn!(%error, "cannot flush before fetching missing events");
        }
        let mut request = get_missing_events::v1::Request::new(
            room_id.to_owned(),
            info.forward_extremities.clone(),
            vec![pdu.event_id.clone()],
        );
        request.limit = UInt::from(MISSING_EVENTS_LIMIT);
        request.min_depth =
            UInt::try_from(info.latest_depth.saturating_sub(50)).unwrap_or_default();
        let response = match self.client.send(origin, request).await {
            Ok(response) => response,
            Err(error) => {
                tracing::debug!(%error, "get_missing_events failed");
                return;
            }
        };
        let mut events: Vec<JsonValue> = response
            .events
            .iter()
            .filter_map(|raw| serde_json::from_str(raw.get()).ok())
            .collect();
        events.sort_by_key(|event| event.get("depth").and_then(JsonValue::as_u64).unwrap_or(0));
        for event in events {
            let result =
                Box::pin(self.handle_pdu(deferred, origin, room_id, &event, depth + 1)).await;
            if let Err(error) = result {
                tracing::debug!(%error, "a missing event could not be placed");
            }
        }
    }

    /// The state before `pdu` from the states after its `prev_events`: known ones from their
    /// snapshots, missing ones from `state_ids` at them (plus the prev event itself when it is
    /// state), resolved when there are several.
    async fn fetch_state_after_prevs(
        &self,
        deferred: &Deferred<'_>,
        origin: &ServerName,
        room_id: &RoomId,
        pdu: &myelin_core::rooms::PduEvent,
        rules: &RoomVersionRules,
    ) -> Result<StateMap> {
        let rooms = &self.services.rooms;
        let mut maps = Vec::with_capacity(pdu.prev_events.len());
        for prev in &pdu.prev_events {
            if let Some(after) = rooms.state_after_event(prev)? {
                maps.push((*after).clone());
                continue;
            }
            let mut map = self
                .fetch_state_before(deferred, origin, room_id, prev, rules)
                .await?;
            if !rooms.has_event(prev)? {
                let value = self.fetch_event(origin, prev).await?;
                let event = self.check_pdu(&value, rules).await?;
                if event.event_id != *prev {
                    return Err(Error::Forbidden(format!(
                        "{origin} served another event for {prev}"
                    )));
                }
                rooms.store_outliers(std::slice::from_ref(&event)).await?;
            }
            if let Some(prev_event) = rooms.pdu(prev)?
                && let Some(pair) = prev_event.state_key_pair()
            {
                map.insert(pair, prev.clone());
            }
            maps.push(map);
        }
        rooms.resolve_forks(room_id, maps)
    }

    /// The state before `event_id` as the origin reports it, with every event in it stored.
    async fn fetch_state_before(
        &self,
        deferred: &Deferred<'_>,
        origin: &ServerName,
        room_id: &RoomId,
        event_id: &EventId,
        rules: &RoomVersionRules,
    ) -> Result<StateMap> {
        self.release_before_network(deferred).await?;
        let response = self
            .client
            .send(
                origin,
                get_room_state_ids::v1::Request::new(event_id.to_owned(), room_id.to_owned()),
            )
            .await?;
        let wanted: BTreeSet<OwnedEventId> = response
            .pdu_ids
            .iter()
            .chain(response.auth_chain_ids.iter())
            .cloned()
            .collect();
        let mut fetched = Vec::new();
        for id in wanted {
            if self.services.rooms.has_event(&id)? {
                continue;
            }
            // An event the origin cannot give is left out, as Synapse leaves it: what cites it
            // as an auth event is rejected when stored, and the state is what remains
            // [Complement TestCorruptedAuthChain].
            let event = match self.fetch_event(origin, &id).await {
                Ok(value) => match self.check_pdu(&value, rules).await {
                    Ok(event) if event.event_id == id => event,
                    Ok(_) => {
                        tracing::info!(%origin, %id, "the origin served another event");
                        continue;
                    }
                    Err(error) => {
                        tracing::info!(%origin, %id, %error, "a state event failed its checks");
                        continue;
                    }
                },
                Err(error) => {
                    tracing::info!(%origin, %id, %error, "a state event could not be fetched");
                    continue;
                }
            };
            fetched.push(event);
        }
        self.services.rooms.store_outliers(&fetched).await?;
        let mut map = StateMap::new();
        for id in &response.pdu_ids {
            let Some(pdu) = self.services.rooms.pdu(id)? else {
                // Rejected by its auth events, or out of reach: left out of the state.
                continue;
            };
            if let Some(pair) = pdu.state_key_pair() {
                map.insert(pair, id.clone());
            }
        }
        Ok(map)
    }
}

/// A PDU parsed and named, waiting for its signatures to be checked.
pub(crate) struct Prepared {
    event_id: OwnedEventId,
    object: CanonicalJsonObject,
    /// What is verified: the object, with `event_id` for room versions that sign it.
    check: CanonicalJsonObject,
    servers: Vec<OwnedServerName>,
    at_ms: u64,
}

/// Size, shape, format and reference hash of a PDU.
pub(crate) fn prepare(value: JsonValue, rules: &RoomVersionRules) -> Result<Prepared> {
    let size = serde_json::to_vec(&value)
        .map_err(|error| Error::BadJson(error.to_string()))?
        .len();
    if size > myelin_core::rooms::MAX_PDU_BYTES {
        return Err(Error::TooLarge(format!(
            "PDU is {size} bytes, more than {}",
            myelin_core::rooms::MAX_PDU_BYTES
        )));
    }
    let mut object: CanonicalJsonObject = serde_json::from_value(value)
        .map_err(|error| Error::BadJson(format!("PDU is not canonical JSON: {error}")))?;
    // Fields a sender must not set, or that differ per server (the id is the event's own in
    // room versions 1 and 2, and signed with it).
    if rules.event_id_format != ruma::room_version_rules::EventIdFormatVersion::V1 {
        object.remove("event_id");
    }
    object.remove("unsigned");
    ruma::state_res::check_pdu_format(&object, &rules.event_format)
        .map_err(|reason| Error::BadJson(format!("Malformed PDU: {reason}")))?;
    let event_id = myelin_core::rooms::event_id_of(&object, rules)?;
    let mut check = object.clone();
    if rules.signatures.check_event_id_server {
        check.insert("event_id".into(), event_id.to_string().into());
    }
    let servers =
        ruma::signatures::required_server_signatures_to_verify_event(&check, &rules.signatures)
            .map_err(|error| Error::BadJson(format!("Unverifiable event: {error}")))?
            .into_iter()
            .collect();
    // Room versions before 5 do not enforce key validity: any key the server has had will do
    // (time 0 makes every key, current or expired, usable).
    let at_ms = match check.get("origin_server_ts") {
        _ if !rules.enforce_key_validity => 0,
        Some(ruma::CanonicalJsonValue::Integer(ts)) => u64::try_from(i64::from(*ts)).unwrap_or(0),
        _ => myelin_core::users::now_ms(),
    };
    Ok(Prepared {
        event_id,
        object,
        check,
        servers,
        at_ms,
    })
}

/// Checks the signatures (with the keys valid when the event was made) and the content hash;
/// an event whose hash fails is kept redacted.
pub(crate) fn finish(
    pdu: Prepared,
    keys: &BTreeMap<OwnedServerName, myelin_core::keys::CachedServerKeys>,
    rules: &RoomVersionRules,
) -> Result<RemoteEvent> {
    let mut map = ruma::signatures::PublicKeyMap::new();
    for server in &pdu.servers {
        let set = keys
            .get(server)
            .map(|cached| cached.usable_at(pdu.at_ms))
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(id, key)| ruma::serde::Base64::parse(key).ok().map(|key| (id, key)))
            .collect();
        map.insert(server.to_string(), set);
    }
    let mut object = pdu.object;
    match ruma::signatures::verify_event(&map, &pdu.check, rules) {
        Ok(ruma::signatures::Verified::All) => {}
        Ok(ruma::signatures::Verified::Signatures) => {
            tracing::info!(event_id = %pdu.event_id, "content hash mismatch: keeping the event redacted");
            object = ruma::canonical_json::redact(object, &rules.redaction, None)
                .map_err(|error| Error::BadJson(format!("Cannot redact the PDU: {error}")))?;
        }
        Err(error) => return Err(Error::Forbidden(format!("Bad event signature: {error}"))),
    }
    Ok(RemoteEvent {
        event_id: pdu.event_id,
        object,
    })
}

/// Maps `items` through `work` on blocking threads, one chunk per core, keeping the order.
async fn in_parallel<T, R>(
    items: Vec<T>,
    rules: &RoomVersionRules,
    work: fn(T, &RoomVersionRules) -> Result<R>,
) -> Vec<Result<R>>
where
    T: Send + 'static,
    R: Send + 'static,
{
    if items.len() < 8 {
        return items.into_iter().map(|item| work(item, rules)).collect();
    }
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let chunk = items.len().div_ceil(cores);
    let mut tasks = Vec::new();
    let mut items = items.into_iter();
    loop {
        let part: Vec<T> = items.by_ref().take(chunk).collect();
        if part.is_empty() {
            break;
        }
        let rules = rules.clone();
        tasks.push(tokio::task::spawn_blocking(move || {
            part.into_iter()
                .map(|item| work(item, &rules))
                .collect::<Vec<_>>()
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        match task.await {
            Ok(part) => results.extend(part),
            Err(error) => return vec![Err(Error::Internal(format!("a check failed: {error}")))],
        }
    }
    results
}
