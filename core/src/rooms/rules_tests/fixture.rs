//! The fixture format of `testdata/*.json` and the building of its events as signed PDUs of a
//! room version.
//!
//! A file has `setups` (named event lists a case may start with) and `cases`. A case has a
//! `name`, the room `versions` it holds in (`"2+"` when absent; ranges `"7"`, `"2-9"`, `"10+"`,
//! comma-separated), its `events` and what must come of them. An event has a `label`, `type`,
//! `sender`, `state_key`, `content` (`content_by_version` overrides it in some versions), the
//! labels of its `auth` events (`auth_by_version` likewise; the create event is left out where
//! the room id stands for it, from version 12, unless `create_in_auth`), its `prev` events (by
//! default the latest earlier event expected to be accepted), `redacts`, and `expect`: `accept`,
//! `reject`, `soft_fail` (allowed by the state before it, not by the current state) or `invalid`
//! (refused as malformed), one outcome or one per version range. `outlier` overrides what the
//! outlier path expects (by default `expect`, soft-failed counting as accepted and malformed as
//! rejected).
//!
//! A case may also give `forks` (lists of state event labels; a later label replaces an earlier
//! one of the same type and state key), `resolved` (`"type"` or `"type state_key"` to the label
//! of the event the room's state must hold, or null for none), `redacted` (label to whether it
//! must end up redacted), `send_join` (a join, state and auth chain to enter the room with),
//! `timeline: false` (the forks exist only as given state maps: the events are not placed) and
//! `outliers_reversed` (hand the events to `store_outliers` last first).
//!
//! Events are real signed PDUs of the version's format: ids made by the sender with
//! `[id, hashes]` references in version 2, reference hashes from version 3 (standard base64 in 3,
//! url-safe from 4), the room id taken from the create event in 12.

use std::{
    collections::{BTreeMap, HashMap},
    path::Path,
};

use ruma::{
    CanonicalJsonObject, CanonicalJsonValue, OwnedEventId, OwnedRoomId, OwnedServerName,
    OwnedUserId, RoomId, RoomVersionId,
    room_version_rules::{EventIdFormatVersion, EventsReferenceFormatVersion, RoomVersionRules},
    signatures::{Ed25519KeyPair, hash_and_sign_event},
};
use serde::Deserialize;
use serde_json::{Map, Value as JsonValue, json};

use crate::rooms::{RemoteEvent, event_id_of};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Fixtures {
    #[serde(rename = "about")]
    _about: String,
    #[serde(default)]
    pub(super) setups: HashMap<String, Vec<EventFixture>>,
    pub(super) cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Case {
    pub(super) name: String,
    #[serde(default, rename = "about")]
    _about: String,
    #[serde(default)]
    pub(super) versions: Option<String>,
    #[serde(default)]
    pub(super) setup: Option<String>,
    pub(super) events: Vec<EventFixture>,
    #[serde(default)]
    pub(super) forks: Vec<Vec<String>>,
    #[serde(default)]
    pub(super) resolved: BTreeMap<String, Versioned<Option<String>>>,
    #[serde(default)]
    pub(super) redacted: BTreeMap<String, Versioned<bool>>,
    #[serde(default = "yes")]
    pub(super) timeline: bool,
    #[serde(default)]
    pub(super) outliers_reversed: bool,
    #[serde(default)]
    pub(super) send_join: Option<SendJoin>,
}

/// Entering the room through `send_join`: the join, and the state and auth chain the resident
/// returned (labels).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SendJoin {
    pub(super) join: String,
    pub(super) state: Vec<String>,
    pub(super) auth_chain: Vec<String>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct EventFixture {
    label: String,
    #[serde(rename = "type")]
    kind: String,
    sender: OwnedUserId,
    #[serde(default)]
    state_key: Option<String>,
    #[serde(default)]
    content: Map<String, JsonValue>,
    #[serde(default)]
    content_by_version: BTreeMap<String, Map<String, JsonValue>>,
    #[serde(default)]
    auth: Vec<String>,
    #[serde(default)]
    auth_by_version: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    create_in_auth: bool,
    #[serde(default)]
    prev: Option<Vec<String>>,
    #[serde(default)]
    redacts: Option<String>,
    #[serde(default = "accepted")]
    expect: Versioned<Outcome>,
    #[serde(default)]
    outlier: Option<Versioned<Outcome>>,
}

fn accepted() -> Versioned<Outcome> {
    Versioned::Everywhere(Outcome::Accept)
}

#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(super) enum Outcome {
    Accept,
    Reject,
    SoftFail,
    Invalid,
}

/// One value for every version, or one per version range.
#[derive(Deserialize, Clone)]
#[serde(untagged)]
pub(super) enum Versioned<T> {
    Everywhere(T),
    ByVersion(BTreeMap<String, T>),
}

impl<T: Clone> Versioned<T> {
    pub(super) fn at(&self, version: u32) -> Option<T> {
        match self {
            Self::Everywhere(value) => Some(value.clone()),
            Self::ByVersion(values) => pick(values, version).cloned(),
        }
    }
}

/// The value whose range holds `version`; overlapping ranges are a fixture error.
fn pick<T>(values: &BTreeMap<String, T>, version: u32) -> Option<&T> {
    let mut matching = values
        .iter()
        .filter(|(ranges, _)| holds_in(ranges, version));
    let found = matching.next().map(|(_, value)| value);
    assert!(matching.next().is_none(), "overlapping version ranges");
    found
}

pub(super) fn holds_in(ranges: &str, version: u32) -> bool {
    let number = |text: &str| -> u32 {
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("bad version range {ranges}"))
    };
    ranges.split(',').any(|range| {
        if let Some(low) = range.trim().strip_suffix('+') {
            return version >= number(low);
        }
        match range.split_once('-') {
            Some((low, high)) => (number(low)..=number(high)).contains(&version),
            None => version == number(range),
        }
    })
}

pub(super) fn version_number(version: &RoomVersionId) -> u32 {
    version
        .as_str()
        .parse()
        .expect("served versions are numbered")
}

pub(super) fn load_fixtures(file: &str) -> Fixtures {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/rooms/testdata")
        .join(file);
    let text = std::fs::read_to_string(&path).expect("a fixture file");
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{file}: {error}"))
}

/// A case's events built for one room version.
pub(super) struct Built {
    pub(super) version: RoomVersionId,
    pub(super) number: u32,
    pub(super) rules: RoomVersionRules,
    pub(super) room_id: OwnedRoomId,
    pub(super) creator: OwnedUserId,
    pub(super) events: Vec<BuiltEvent>,
    ids: HashMap<String, OwnedEventId>,
}

pub(super) struct BuiltEvent {
    pub(super) label: String,
    pub(super) remote: RemoteEvent,
    pub(super) expect: Outcome,
    pub(super) outlier: Outcome,
}

impl Built {
    pub(super) fn event(&self, label: &str) -> &BuiltEvent {
        self.events
            .iter()
            .find(|event| event.label == label)
            .unwrap_or_else(|| panic!("no event labelled {label}"))
    }

    pub(super) fn id(&self, label: &str) -> &OwnedEventId {
        self.ids
            .get(label)
            .unwrap_or_else(|| panic!("no event labelled {label}"))
    }

    pub(super) fn label_of(&self, id: Option<&OwnedEventId>) -> String {
        let Some(id) = id else {
            return "nothing".to_owned();
        };
        self.ids
            .iter()
            .find(|(_, known)| *known == id)
            .map_or_else(|| id.to_string(), |(label, _)| label.clone())
    }
}

/// Origin timestamps: fixed, so that ids are stable and ties break in list order.
const FIRST_TIMESTAMP: u64 = 1_700_000_000_000;

/// Builds a case's events, in order, as PDUs of `version`.
pub(super) fn build(events: &[EventFixture], version: &RoomVersionId) -> Result<Built, String> {
    let create = events
        .first()
        .filter(|event| event.kind == "m.room.create")
        .ok_or("the first event must be the create event")?;
    let rules = version.rules().expect("served versions have rules");
    let room_id = (!rules.authorization.room_create_event_id_as_room_id).then(|| {
        RoomId::parse(format!("!room:{}", create.sender.server_name())).expect("a valid room id")
    });
    let mut builder = Builder {
        built: Built {
            version: version.clone(),
            number: version_number(version),
            rules,
            room_id: RoomId::parse("!unknown:invalid").expect("a valid room id"),
            creator: create.sender.clone(),
            events: Vec::new(),
            ids: HashMap::new(),
        },
        room_id,
        create_label: create.label.clone(),
        keys: HashMap::new(),
        content_hashes: HashMap::new(),
        depths: HashMap::new(),
        latest_accepted: None,
    };
    for (index, fixture) in events.iter().enumerate() {
        builder
            .add(index, fixture)
            .map_err(|problem| format!("{}: {problem}", fixture.label))?;
    }
    let mut built = builder.built;
    built.room_id = builder
        .room_id
        .expect("known once the create event is built");
    Ok(built)
}

struct Builder {
    built: Built,
    /// Known from the start, or (version 12) once the create event is built.
    room_id: Option<OwnedRoomId>,
    create_label: String,
    /// One signing key per sending server.
    keys: HashMap<OwnedServerName, Ed25519KeyPair>,
    /// Version 2 references carry the content hash of the event cited.
    content_hashes: HashMap<String, String>,
    depths: HashMap<String, u64>,
    latest_accepted: Option<String>,
}

impl Builder {
    fn add(&mut self, index: usize, fixture: &EventFixture) -> Result<(), String> {
        let label = &fixture.label;
        if self.built.ids.contains_key(label) {
            return Err("the label is used twice".into());
        }
        let number = self.built.number;
        let expect = fixture
            .expect
            .at(number)
            .ok_or("no expectation for this version")?;
        let outlier = match &fixture.outlier {
            Some(outlier) => outlier
                .at(number)
                .ok_or("no outlier expectation for this version")?,
            None => match expect {
                Outcome::SoftFail => Outcome::Accept,
                Outcome::Invalid => Outcome::Reject,
                other => other,
            },
        };
        let mut object = self.unsigned_object(index, fixture)?;
        let server = fixture.sender.server_name();
        let rules = &self.built.rules;
        if rules.event_id_format == EventIdFormatVersion::V1 {
            object.insert("event_id".into(), format!("${label}:{server}").into());
        }
        let key = self.keys.entry(server.to_owned()).or_insert_with(|| {
            Ed25519KeyPair::from_der(&Ed25519KeyPair::generate(), "test".into())
                .expect("a freshly generated key")
        });
        hash_and_sign_event(server.as_str(), key, &mut object, &rules.redaction)
            .map_err(|error| format!("signing failed: {error}"))?;
        let event_id = event_id_of(&object, rules).map_err(|error| error.to_string())?;
        if self.room_id.is_none() {
            let room_id = RoomId::parse(format!("!{}", &event_id.as_str()[1..]));
            self.room_id = Some(room_id.expect("an event id body is a room id body"));
        }
        let Some(CanonicalJsonValue::Object(hashes)) = object.get("hashes") else {
            return Err("the event was not hashed".into());
        };
        let Some(CanonicalJsonValue::String(content_hash)) = hashes.get("sha256") else {
            return Err("the event has no sha256 hash".into());
        };
        self.content_hashes
            .insert(label.clone(), content_hash.clone());
        if expect == Outcome::Accept {
            self.latest_accepted = Some(label.clone());
        }
        self.built.ids.insert(label.clone(), event_id.clone());
        self.built.events.push(BuiltEvent {
            label: label.clone(),
            remote: RemoteEvent { event_id, object },
            expect,
            outlier,
        });
        Ok(())
    }

    /// The event's fields before hashing and signing.
    fn unsigned_object(
        &mut self,
        index: usize,
        fixture: &EventFixture,
    ) -> Result<CanonicalJsonObject, String> {
        let number = self.built.number;
        let rules = &self.built.rules;
        let prev = fixture
            .prev
            .clone()
            .unwrap_or_else(|| self.latest_accepted.iter().cloned().collect());
        let create_is_room_id = rules.authorization.room_create_event_id_as_room_id;
        let auth: Vec<String> = pick(&fixture.auth_by_version, number)
            .unwrap_or(&fixture.auth)
            .iter()
            .filter(|cited| {
                !create_is_room_id || fixture.create_in_auth || **cited != self.create_label
            })
            .cloned()
            .collect();
        let depth = 1 + prev
            .iter()
            .filter_map(|cited| self.depths.get(cited))
            .max()
            .unwrap_or(&0);
        self.depths.insert(fixture.label.clone(), depth);

        let mut content = pick(&fixture.content_by_version, number)
            .unwrap_or(&fixture.content)
            .clone();
        if index == 0 {
            content.insert("room_version".into(), self.built.version.as_str().into());
            if !rules.authorization.use_room_create_sender {
                let creator = self.built.creator.as_str();
                content.entry("creator").or_insert_with(|| creator.into());
            }
        }
        let mut object = CanonicalJsonObject::new();
        if let Some(target) = &fixture.redacts {
            let target = self.built.id(target).to_string();
            if rules.redaction.content_field_redacts {
                content.insert("redacts".into(), target.into());
            } else {
                object.insert("redacts".into(), target.into());
            }
        }
        let fields = json!({
            "type": fixture.kind,
            "sender": fixture.sender,
            "content": content,
            "depth": depth,
            "origin_server_ts": FIRST_TIMESTAMP + 1000 * index as u64,
        });
        let fields = fields.as_object().expect("an object literal").clone();
        object.extend(ruma::canonical_json::try_from_json_map(fields).map_err(|e| e.to_string())?);
        object.insert("prev_events".into(), self.references(&prev)?);
        object.insert("auth_events".into(), self.references(&auth)?);
        if let Some(state_key) = &fixture.state_key {
            object.insert("state_key".into(), state_key.clone().into());
        }
        if let Some(room_id) = &self.room_id {
            object.insert("room_id".into(), room_id.to_string().into());
        }
        Ok(object)
    }

    /// Earlier events cited by label, in the version's reference format.
    fn references(&self, labels: &[String]) -> Result<CanonicalJsonValue, String> {
        let pairs = self.built.rules.events_reference_format == EventsReferenceFormatVersion::V1;
        let mut references = Vec::with_capacity(labels.len());
        for label in labels {
            let id = self
                .built
                .ids
                .get(label)
                .ok_or_else(|| format!("{label} is not an earlier event"))?;
            let id = CanonicalJsonValue::String(id.to_string());
            references.push(if pairs {
                let hash = CanonicalJsonValue::String(self.content_hashes[label].clone());
                let hashes = CanonicalJsonObject::from([("sha256".to_owned(), hash)]);
                CanonicalJsonValue::Array(vec![id, CanonicalJsonValue::Object(hashes)])
            } else {
                id
            });
        }
        Ok(CanonicalJsonValue::Array(references))
    }
}
