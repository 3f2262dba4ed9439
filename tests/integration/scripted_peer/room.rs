//! A room the scripted peer hosts: every event of it the peer built or received, the state before
//! each event placed in its graph, and the forward extremities. Enough to build and sign new
//! events, answer `make_join`/`send_join`, and serve state, auth chains and missing events.
//!
//! The peer trusts what it places: it runs no authorization and no state resolution. The state
//! before a placed event is the room's current state when it is placed, which is right while the
//! peer's view of the room is a line (one server writing at a time, as in these tests).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use reqwest::StatusCode;
use ruma::{
    CanonicalJsonObject, CanonicalJsonValue, MilliSecondsSinceUnixEpoch, RoomVersionId,
    room_version_rules::RoomVersionRules,
    signatures::{Ed25519KeyPair, hash_and_sign_event, reference_hash},
};
use serde_json::{Value, json};

/// `(type, state_key)` → event id.
pub(crate) type StateMap = BTreeMap<(String, String), String>;

/// An event for the peer to build and sign.
#[derive(Debug, Clone)]
pub(crate) struct PeerEvent {
    pub kind: String,
    pub sender: String,
    pub state_key: Option<String>,
    pub content: Value,
    /// `None`: the room's forward extremities.
    pub prev_events: Option<Vec<String>>,
    /// `None`: chosen from the room's current state by the spec's auth events selection.
    pub auth_events: Option<Vec<String>>,
}

impl PeerEvent {
    pub(crate) fn timeline(kind: &str, sender: &str, content: Value) -> Self {
        Self {
            kind: kind.to_owned(),
            sender: sender.to_owned(),
            state_key: None,
            content,
            prev_events: None,
            auth_events: None,
        }
    }

    pub(crate) fn message(sender: &str, body: &str) -> Self {
        Self::timeline(
            "m.room.message",
            sender,
            json!({ "msgtype": "m.text", "body": body }),
        )
    }

    pub(crate) fn state(kind: &str, sender: &str, state_key: &str, content: Value) -> Self {
        Self {
            state_key: Some(state_key.to_owned()),
            ..Self::timeline(kind, sender, content)
        }
    }

    pub(crate) fn with_prev_events<S: Into<String>>(
        mut self,
        ids: impl IntoIterator<Item = S>,
    ) -> Self {
        self.prev_events = Some(ids.into_iter().map(Into::into).collect());
        self
    }

    pub(crate) fn with_auth_events<S: Into<String>>(
        mut self,
        ids: impl IntoIterator<Item = S>,
    ) -> Self {
        self.auth_events = Some(ids.into_iter().map(Into::into).collect());
        self
    }
}

/// The peer's name and key, which sign what it builds.
pub(super) struct Signer<'a> {
    pub server_name: &'a str,
    pub key_pair: &'a Ed25519KeyPair,
}

impl Signer<'_> {
    /// Adds the content hash and the peer's signature; returns the event id.
    fn sign(&self, rules: &RoomVersionRules, object: &mut CanonicalJsonObject) -> String {
        hash_and_sign_event(self.server_name, self.key_pair, object, &rules.redaction)
            .expect("a built event can be hashed and signed");
        event_id_of(object, rules)
    }
}

pub(super) struct PeerRoom {
    pub room_id: String,
    pub version: RoomVersionId,
    pub rules: RoomVersionRules,
    /// Every event of the room the peer knows, placed or not, as signed.
    events: HashMap<String, Value>,
    /// The state before each placed event.
    state_before: HashMap<String, StateMap>,
    state: StateMap,
    extremities: Vec<String>,
}

impl PeerRoom {
    /// A public room of `creator` (a user of the peer): create, the creator's join, power levels,
    /// join rules and history visibility.
    pub fn create(signer: &Signer<'_>, version: RoomVersionId, creator: &str) -> Self {
        let rules = version.rules().expect("a room version ruma knows");
        let mut content = json!({ "room_version": version.as_str() });
        if !rules.authorization.use_room_create_sender {
            content["creator"] = creator.into();
        }
        let mut create = json!({
            "type": "m.room.create", "sender": creator, "state_key": "", "content": content,
            "origin_server_ts": now(), "depth": 1, "prev_events": [], "auth_events": [],
        });
        // From version 12 the room id is the create event's reference hash, so the create event
        // has none.
        let named_room_id = (!rules.authorization.room_create_event_id_as_room_id)
            .then(|| format!("!{}:{}", random_string(18), signer.server_name));
        if let Some(room_id) = &named_room_id {
            create["room_id"] = room_id.as_str().into();
        }
        let mut object = to_canonical(create);
        let create_id = signer.sign(&rules, &mut object);
        let room_id = named_room_id.unwrap_or_else(|| format!("!{}", &create_id[1..]));
        let mut room = Self {
            room_id,
            version,
            rules,
            events: HashMap::from([(create_id.clone(), to_value(object))]),
            state_before: HashMap::new(),
            state: StateMap::new(),
            extremities: Vec::new(),
        };
        room.place(&create_id);
        let mut power_levels =
            json!({ "users": {}, "users_default": 0, "events_default": 0, "state_default": 50 });
        if !room.rules.authorization.explicitly_privilege_room_creators {
            power_levels["users"][creator] = 100.into();
        }
        let initial = [
            PeerEvent::state(
                "m.room.member",
                creator,
                creator,
                json!({ "membership": "join" }),
            ),
            PeerEvent::state("m.room.power_levels", creator, "", power_levels),
            PeerEvent::state(
                "m.room.join_rules",
                creator,
                "",
                json!({ "join_rule": "public" }),
            ),
            PeerEvent::state(
                "m.room.history_visibility",
                creator,
                "",
                json!({ "history_visibility": "shared" }),
            ),
        ];
        for event in initial {
            let (event_id, _) = room.build(signer, event);
            room.place(&event_id);
        }
        room
    }

    /// Builds and signs an event without placing it in the room's graph (it is served by `/event`
    /// from now on all the same).
    pub fn build(&mut self, signer: &Signer<'_>, event: PeerEvent) -> (String, Value) {
        let prev_events = event
            .prev_events
            .clone()
            .unwrap_or_else(|| self.extremities.clone());
        let auth_events = event
            .auth_events
            .clone()
            .unwrap_or_else(|| self.select_auth_events(&event));
        let depth = prev_events
            .iter()
            .filter_map(|id| self.events.get(id))
            .filter_map(|prev| prev["depth"].as_i64())
            .max()
            .unwrap_or(0)
            + 1;
        let mut object = json!({
            "type": event.kind, "sender": event.sender, "content": event.content,
            "room_id": self.room_id, "origin_server_ts": now(), "depth": depth,
            "prev_events": prev_events, "auth_events": auth_events,
        });
        if let Some(state_key) = event.state_key {
            object["state_key"] = state_key.into();
        }
        let mut object = to_canonical(object);
        let event_id = signer.sign(&self.rules, &mut object);
        let value = to_value(object);
        self.events.insert(event_id.clone(), value.clone());
        (event_id, value)
    }

    /// The spec's auth events selection from the current state (third-party invites and
    /// restricted joins aside).
    fn select_auth_events(&self, event: &PeerEvent) -> Vec<String> {
        let mut wanted = Vec::new();
        if !self.rules.authorization.room_create_event_id_as_room_id {
            wanted.push(("m.room.create", ""));
        }
        wanted.push(("m.room.power_levels", ""));
        wanted.push(("m.room.member", event.sender.as_str()));
        if event.kind == "m.room.member" {
            wanted.push((
                "m.room.member",
                event.state_key.as_deref().unwrap_or_default(),
            ));
            if matches!(
                event.content["membership"].as_str(),
                Some("join" | "invite" | "knock")
            ) {
                wanted.push(("m.room.join_rules", ""));
            }
        }
        let mut ids: Vec<String> = Vec::new();
        for (kind, state_key) in wanted {
            if let Some(id) = self.state.get(&(kind.to_owned(), state_key.to_owned()))
                && !ids.contains(id)
            {
                ids.push(id.clone());
            }
        }
        ids
    }

    /// Places a known event after the room's current state: its state before is the current
    /// state, it replaces its `prev_events` among the forward extremities.
    pub fn place(&mut self, event_id: &str) {
        if self.state_before.contains_key(event_id) {
            return;
        }
        let event = self
            .events
            .get(event_id)
            .expect("a known event is placed")
            .clone();
        self.state_before
            .insert(event_id.to_owned(), self.state.clone());
        if let (Some(kind), Some(state_key)) = (event["type"].as_str(), event["state_key"].as_str())
        {
            self.state
                .insert((kind.to_owned(), state_key.to_owned()), event_id.to_owned());
        }
        let prev_events = ids_in(&event["prev_events"]);
        self.extremities.retain(|id| !prev_events.contains(id));
        self.extremities.push(event_id.to_owned());
    }

    /// Stores and places an event another server sent (trusted: it is not authorized).
    pub fn receive(&mut self, event: Value) -> String {
        let event_id = event_id_of(&to_canonical(event.clone()), &self.rules);
        self.events.entry(event_id.clone()).or_insert(event);
        self.place(&event_id);
        event_id
    }

    pub fn event(&self, event_id: &str) -> Option<&Value> {
        self.events.get(event_id)
    }

    pub fn state(&self) -> &StateMap {
        &self.state
    }

    pub fn state_before(&self, event_id: &str) -> Option<&StateMap> {
        self.state_before.get(event_id)
    }

    /// Every event reachable from `ids` through `auth_events` (`ids` themselves only when
    /// reachable from another), oldest first.
    pub fn auth_chain<'a>(&self, ids: impl IntoIterator<Item = &'a String>) -> Vec<String> {
        let mut seen = HashSet::new();
        let mut queue: VecDeque<String> = ids
            .into_iter()
            .filter_map(|id| self.events.get(id))
            .flat_map(|event| ids_in(&event["auth_events"]))
            .collect();
        while let Some(id) = queue.pop_front() {
            let Some(event) = self.events.get(&id) else {
                continue;
            };
            if seen.insert(id) {
                queue.extend(ids_in(&event["auth_events"]));
            }
        }
        self.by_depth(seen)
    }

    /// The events before `latest` back to (not including) `earliest`, at most `limit`, oldest
    /// first: a `get_missing_events` answer.
    pub fn missing_events(
        &self,
        earliest: &[String],
        latest: &[String],
        limit: usize,
    ) -> Vec<String> {
        let starts = latest
            .iter()
            .filter_map(|id| self.events.get(id))
            .flat_map(|event| ids_in(&event["prev_events"]));
        self.walk_back(starts, earliest, limit)
    }

    /// `from` and the events before them, at most `limit`, newest first: a `backfill` answer.
    pub fn backfill(&self, from: &[String], limit: usize) -> Vec<String> {
        let mut events = self.walk_back(from.iter().cloned(), &[], limit);
        events.reverse();
        events
    }

    fn walk_back(
        &self,
        starts: impl Iterator<Item = String>,
        stop: &[String],
        limit: usize,
    ) -> Vec<String> {
        let mut seen = HashSet::new();
        let mut queue: VecDeque<String> = starts.collect();
        while let Some(id) = queue.pop_front() {
            if seen.len() >= limit || stop.contains(&id) || seen.contains(&id) {
                continue;
            }
            let Some(event) = self.events.get(&id) else {
                continue;
            };
            queue.extend(ids_in(&event["prev_events"]));
            seen.insert(id);
        }
        self.by_depth(seen)
    }

    fn by_depth(&self, ids: HashSet<String>) -> Vec<String> {
        let mut ids: Vec<String> = ids.into_iter().collect();
        ids.sort_by_key(|id| (self.events[id]["depth"].as_i64(), id.clone()));
        ids
    }

    pub fn events_json(&self, ids: &[String]) -> Vec<Value> {
        ids.iter()
            .filter_map(|id| self.events.get(id).cloned())
            .collect()
    }

    /// The `make_join` answer for `user_id`, or the error when the room's version is not among
    /// those the joining server supports.
    pub fn make_join(
        &self,
        user_id: &str,
        supported_versions: &[String],
    ) -> Result<Value, (StatusCode, Value)> {
        if !supported_versions
            .iter()
            .any(|version| version == self.version.as_str())
        {
            return Err((
                StatusCode::BAD_REQUEST,
                json!({ "errcode": "M_INCOMPATIBLE_ROOM_VERSION", "error": "unsupported room version", "room_version": self.version.as_str() }),
            ));
        }
        let join = PeerEvent::state(
            "m.room.member",
            user_id,
            user_id,
            json!({ "membership": "join" }),
        );
        let depth = self
            .extremities
            .iter()
            .filter_map(|id| self.events[id]["depth"].as_i64())
            .max()
            .unwrap_or(0)
            + 1;
        Ok(json!({
            "room_version": self.version.as_str(),
            "event": {
                "type": "m.room.member", "sender": user_id, "state_key": user_id,
                "content": { "membership": "join" }, "room_id": self.room_id,
                "origin_server_ts": now(), "depth": depth,
                "prev_events": self.extremities, "auth_events": self.select_auth_events(&join),
            },
        }))
    }

    /// Places a signed join and returns the `send_join` (v2) answer: the state before it and the
    /// auth chain of that state and the join.
    pub fn send_join(&mut self, origin: &str, join: Value) -> Value {
        let event_id = self.receive(join.clone());
        let state: Vec<String> = self.state_before[&event_id].values().cloned().collect();
        let mut chain_of: Vec<String> = state.clone();
        chain_of.push(event_id);
        let auth_chain = self.auth_chain(&chain_of);
        json!({
            "origin": origin,
            "state": self.events_json(&state),
            "auth_chain": self.events_json(&auth_chain),
            "event": join,
            "members_omitted": false,
            "servers_in_room": [origin],
        })
    }
}

/// `$` and the reference hash: the event id of room versions 3 and later.
fn event_id_of(object: &CanonicalJsonObject, rules: &RoomVersionRules) -> String {
    format!(
        "${}",
        reference_hash(object, rules).expect("an event has a reference hash")
    )
}

fn ids_in(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|id| id.as_str().map(str::to_owned))
        .collect()
}

pub(super) fn to_canonical(value: Value) -> CanonicalJsonObject {
    match CanonicalJsonValue::try_from(value) {
        Ok(CanonicalJsonValue::Object(object)) => object,
        other => panic!("not a canonical JSON object: {other:?}"),
    }
}

pub(super) fn to_value(object: CanonicalJsonObject) -> Value {
    CanonicalJsonValue::Object(object).into()
}

fn now() -> u64 {
    MilliSecondsSinceUnixEpoch::now().get().into()
}

pub(super) fn random_string(length: usize) -> String {
    use rand::Rng as _;
    rand::thread_rng()
        .sample_iter(rand::distributions::Alphanumeric)
        .take(length)
        .map(char::from)
        .collect()
}
