//! Event authorization and state resolution as Myelin drives ruma's, checked at the core
//! boundary against the fixtures of `testdata/` (format: [`fixture`]) in every room version
//! served.
//!
//! Each case runs in each of its versions along these paths, each on a fresh store:
//! - timeline: the create event and its creator's join enter through
//!   [`Rooms::join_remote_room`], every later event through [`Rooms::ingest`] one at a time; each
//!   outcome, then the room's current state (snapshot, state index and memberships) and the
//!   redactions applied must match the case;
//! - outliers: all events go through one [`Rooms::store_outliers`] call, which checks each against
//!   its own auth events (fetched from the same batch); then the forks are resolved with
//!   [`Rooms::resolve`];
//! - send_join, when the case gives one: [`Rooms::join_remote_room`] with the state and auth chain
//!   a resident returned; the outliers' outcomes and the room's state must match the case.
//!
//! `testdata/found_bugs.json` holds the cases these fixtures first found Myelin failing (a
//! redaction applied from anyone, state resolution's removals left in the indexes, `send_join`
//! state taken unchecked, outliers checked before their auth events): they are fixed, and kept
//! as regressions.

mod fixture;

use std::sync::Arc;

use ruma::{
    CanonicalJsonValue, OwnedEventId, RoomVersionId, UserId,
    room_version_rules::{EventIdFormatVersion, EventsReferenceFormatVersion},
};

use self::fixture::{
    Built, BuiltEvent, Case, EventFixture, Outcome, SendJoin, build, holds_in, load_fixtures,
    version_number,
};
use super::{
    IngestOutcome, Membership, RemoteEvent, RoomInfo, Rooms, SUPPORTED_ROOM_VERSIONS, StateMap,
    state::ROOMID_INFO,
};
use crate::{
    config::Config,
    error::Error,
    keys::ServerKeys,
    storage::{BackendKind, Store, WriteBatch},
    stream::Notifier,
};

/// Rooms on a fresh temporary store, as this server's room service is made at startup.
fn temporary_rooms() -> (Rooms, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Store::open(BackendKind::Redb, dir.path()).expect("a fresh store");
    let notifier = Arc::new(Notifier::load(&store).expect("a notifier"));
    let keys = Arc::new(ServerKeys::load_or_generate(&store).expect("a signing key"));
    let mut config = Config::default();
    config.server.name = "myelin.test".into();
    config.server.data_dir = dir.path().to_path_buf();
    let rooms = Rooms::new(store, Arc::new(config), keys, notifier).expect("the room service");
    (rooms, dir)
}

fn state_pair(key: &str) -> (String, String) {
    let (kind, state_key) = key.split_once(' ').unwrap_or((key, ""));
    (kind.to_owned(), state_key.to_owned())
}

/// Differences between the case's `resolved` and what `lookup` finds, described by `place`.
fn compare_state(
    case: &Case,
    built: &Built,
    place: &str,
    lookup: impl Fn(&(String, String)) -> Option<OwnedEventId>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (key, expected) in &case.resolved {
        let Some(expected) = expected.at(built.number) else {
            problems.push(format!("{key}: no expectation for this version"));
            continue;
        };
        let expected = expected.map(|label| built.id(&label).clone());
        let found = lookup(&state_pair(key));
        if found != expected {
            problems.push(format!(
                "{key}: {place} has {}, expected {}",
                built.label_of(found.as_ref()),
                built.label_of(expected.as_ref())
            ));
        }
    }
    problems
}

async fn timeline_path(case: &Case, built: &Built) -> Vec<String> {
    let (rooms, _dir) = temporary_rooms();
    let [create, join, rest @ ..] = built.events.as_slice() else {
        return vec!["the timeline needs a create event and its creator's join".into()];
    };
    let joined = rooms
        .join_remote_room(
            built.version.clone(),
            join.remote.clone(),
            vec![create.remote.clone()],
            Vec::new(),
        )
        .await;
    if let Err(error) = joined {
        return vec![format!(
            "entering the room with {} failed: {error}",
            join.label
        )];
    }
    let mut problems = Vec::new();
    for event in rest {
        let event_id = &event.remote.event_id;
        let outcome = match rooms
            .ingest(&built.room_id, event.remote.clone(), None)
            .await
        {
            Ok(IngestOutcome::Persisted(_)) => Outcome::Accept,
            Ok(IngestOutcome::SoftFailed) => Outcome::SoftFail,
            Err(Error::Forbidden(_)) => {
                if !rooms.is_rejected(event_id).expect("readable store") {
                    problems.push(format!("{}: refused but not remembered", event.label));
                }
                Outcome::Reject
            }
            Err(Error::BadJson(_)) => Outcome::Invalid,
            other => {
                problems.push(format!("{}: ingest gave {other:?}", event.label));
                continue;
            }
        };
        if outcome != event.expect {
            problems.push(format!(
                "{}: {outcome:?} in the timeline, expected {:?}",
                event.label, event.expect
            ));
        }
    }
    problems.extend(check_current_state(case, built, &rooms));
    problems.extend(check_redactions(case, built, &rooms));
    problems
}

/// Placed redactions were applied to their targets, or not, as the case says.
fn check_redactions(case: &Case, built: &Built, rooms: &Rooms) -> Vec<String> {
    let mut problems = Vec::new();
    for (label, expected) in &case.redacted {
        let expected = expected.at(built.number).unwrap_or(false);
        let stored = rooms
            .pdu_json(built.id(label))
            .expect("readable store")
            .unwrap_or_default();
        let redacted = stored["unsigned"]["redacted_because"].is_object();
        if redacted != expected {
            problems.push(format!("{label}: redacted {redacted}, expected {expected}"));
        }
    }
    problems
}

/// The room's current state (snapshot, state index and memberships) against `resolved`.
fn check_current_state(case: &Case, built: &Built, rooms: &Rooms) -> Vec<String> {
    let info = rooms.existing_room(&built.room_id).expect("the room");
    let snapshot = rooms
        .snapshot_map(info.state_snapshot.expect("a current snapshot"))
        .expect("readable snapshot");
    let mut problems = compare_state(case, built, "the current snapshot", |pair| {
        snapshot.get(pair).cloned()
    });
    problems.extend(compare_state(
        case,
        built,
        "the current-state index",
        |pair| {
            rooms
                .state_event_id(&built.room_id, &pair.0, &pair.1)
                .expect("readable store")
        },
    ));
    problems.extend(check_memberships(case, built, rooms));
    problems
}

/// The membership index follows the resolved member events (a member left out is not joined).
fn check_memberships(case: &Case, built: &Built, rooms: &Rooms) -> Vec<String> {
    let mut problems = Vec::new();
    for (key, expected) in &case.resolved {
        let (kind, user) = state_pair(key);
        let (Ok(user), Some(expected)) = (UserId::parse(user), expected.at(built.number)) else {
            continue;
        };
        if kind != "m.room.member" {
            continue;
        }
        let found = rooms
            .membership(&built.room_id, &user)
            .expect("readable store");
        let wanted = expected.map(|label| {
            let pdu = built
                .event(&label)
                .remote
                .pdu()
                .expect("a built event parses");
            let content = pdu.content_json();
            Membership::parse(content["membership"].as_str().unwrap_or_default())
                .expect("a member event")
        });
        let agrees = match wanted {
            Some(wanted) => found == Some(wanted),
            None => found != Some(Membership::Join),
        };
        if !agrees {
            problems.push(format!(
                "{user}: membership index says {found:?}, expected {wanted:?}"
            ));
        }
    }
    problems
}

/// Whether an event stored as an outlier was accepted or rejected as `event` expects.
fn check_outlier(rooms: &Rooms, event: &BuiltEvent) -> Option<String> {
    let event_id = &event.remote.event_id;
    let outcome = if rooms.is_rejected(event_id).expect("readable store") {
        Outcome::Reject
    } else if rooms.pdu(event_id).expect("readable store").is_some() {
        Outcome::Accept
    } else {
        return Some(format!("{}: neither stored nor rejected", event.label));
    };
    (outcome != event.outlier).then(|| {
        format!(
            "{}: {outcome:?} as an outlier, expected {:?}",
            event.label, event.outlier
        )
    })
}

async fn outlier_path(case: &Case, built: &Built) -> Vec<String> {
    let (rooms, _dir) = temporary_rooms();
    // The room is known here (as every room this server is in): its version decides the rules.
    let info = RoomInfo {
        room_version: built.version.clone(),
        creator: built.creator.clone(),
        forward_extremities: Vec::new(),
        latest_depth: 0,
        state_snapshot: None,
    };
    let mut batch = WriteBatch::new();
    batch.put_json(ROOMID_INFO, built.room_id.as_bytes().to_vec(), &info);
    rooms.store().commit(batch).await.expect("a writable store");
    let mut events: Vec<RemoteEvent> = built
        .events
        .iter()
        .map(|event| event.remote.clone())
        .collect();
    if case.outliers_reversed {
        events.reverse();
    }
    if let Err(error) = rooms.store_outliers(&events).await {
        return vec![format!("store_outliers failed: {error}")];
    }
    let mut problems = Vec::new();
    for event in &built.events {
        problems.extend(check_outlier(&rooms, event));
    }
    if case.forks.is_empty() {
        return problems;
    }
    let mut forks = Vec::new();
    for fork in &case.forks {
        let mut map = StateMap::new();
        for label in fork {
            let pdu = rooms.pdu(built.id(label)).expect("readable store");
            match pdu.as_ref().and_then(|pdu| pdu.state_key_pair()) {
                Some(pair) => map.insert(pair, built.id(label).clone()),
                None => return vec![format!("fork member {label} is not a stored state event")],
            };
        }
        forks.push(Arc::new(map));
    }
    match rooms.resolve(&built.rules, &forks) {
        Ok(resolved) => {
            problems.extend(compare_state(case, built, "resolving the forks", |pair| {
                resolved.get(pair).cloned()
            }))
        }
        Err(error) => problems.push(format!("resolving the forks failed: {error}")),
    }
    problems
}

/// Runs every case of a fixture file in each of its versions; returns the number of runs and
/// what went wrong. Runs go on concurrently: each waits mostly for its store's flushes.
async fn run_fixtures(file: &str) -> (usize, Vec<String>) {
    let fixtures = load_fixtures(file);
    let slots = Arc::new(tokio::sync::Semaphore::new(8));
    let mut runs = tokio::task::JoinSet::new();
    for case in fixtures.cases {
        let mut events = match &case.setup {
            Some(setup) => fixtures
                .setups
                .get(setup)
                .expect("a setup of the file")
                .clone(),
            None => Vec::new(),
        };
        events.extend(case.events.iter().cloned());
        let versions: Vec<&RoomVersionId> = SUPPORTED_ROOM_VERSIONS
            .iter()
            .filter(|version| {
                holds_in(
                    case.versions.as_deref().unwrap_or("2+"),
                    version_number(version),
                )
            })
            .collect();
        assert!(
            !versions.is_empty(),
            "{} runs in no served version",
            case.name
        );
        let (case, events) = (Arc::new(case), Arc::new(events));
        for version in versions {
            let (case, events, version) = (Arc::clone(&case), Arc::clone(&events), version.clone());
            let slots = Arc::clone(&slots);
            runs.spawn(async move {
                let _slot = slots.acquire().await.expect("the semaphore stays open");
                run_case(&case, &events, &version)
                    .await
                    .into_iter()
                    .map(|problem| format!("{} (v{version}): {problem}", case.name))
                    .collect::<Vec<_>>()
            });
        }
    }
    let count = runs.len();
    let mut problems: Vec<String> = runs.join_all().await.into_iter().flatten().collect();
    problems.sort();
    (count, problems)
}

async fn run_case(case: &Case, events: &[EventFixture], version: &RoomVersionId) -> Vec<String> {
    let built = match build(events, version) {
        Ok(built) => built,
        Err(problem) => return vec![problem],
    };
    let mut problems = Vec::new();
    if case.timeline {
        problems.extend(timeline_path(case, &built).await);
    }
    problems.extend(outlier_path(case, &built).await);
    if let Some(send_join) = &case.send_join {
        problems.extend(send_join_path(case, send_join, &built).await);
    }
    problems
}

async fn send_join_path(case: &Case, send_join: &SendJoin, built: &Built) -> Vec<String> {
    let (rooms, _dir) = temporary_rooms();
    let remote = |labels: &[String]| -> Vec<RemoteEvent> {
        labels
            .iter()
            .map(|label| built.event(label).remote.clone())
            .collect()
    };
    let join = built.event(&send_join.join);
    let joined = rooms
        .join_remote_room(
            built.version.clone(),
            join.remote.clone(),
            remote(&send_join.state),
            remote(&send_join.auth_chain),
        )
        .await;
    let mut problems = Vec::new();
    let outcome = match joined {
        Ok(_) => Outcome::Accept,
        Err(Error::Forbidden(_)) => Outcome::Reject,
        Err(other) => {
            problems.push(format!("{}: join_remote_room gave {other:?}", join.label));
            Outcome::Invalid
        }
    };
    if outcome != join.expect {
        problems.push(format!(
            "{}: {outcome:?} through send_join, expected {:?}",
            join.label, join.expect
        ));
    }
    for label in send_join.state.iter().chain(&send_join.auth_chain) {
        problems.extend(check_outlier(&rooms, built.event(label)));
    }
    if outcome == Outcome::Accept {
        problems.extend(check_current_state(case, built, &rooms));
    }
    problems
}

fn report(file: &str, runs: usize, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{file}: {} problems over {runs} case runs:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_fixtures_hold_in_every_room_version() {
    let (runs, problems) = run_fixtures("authorization.json").await;
    report("authorization.json", runs, &problems);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_resolution_fixtures_hold_in_every_room_version() {
    let (runs, problems) = run_fixtures("state_resolution.json").await;
    report("state_resolution.json", runs, &problems);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn found_bug_fixtures_hold_in_every_room_version() {
    let (runs, problems) = run_fixtures("found_bugs.json").await;
    report("found_bugs.json", runs, &problems);
}

/// The builder gives each version its own ids and references, so that every case runs on the
/// format its version really has.
#[test]
fn events_are_built_in_the_id_and_reference_format_of_each_version() {
    let fixtures = load_fixtures("authorization.json");
    let setup = &fixtures.setups["public_room"];
    for version in SUPPORTED_ROOM_VERSIONS {
        let built = build(setup, version).expect("the setup builds");
        let create_id = built.id("create").as_str();
        let body = &create_id[1..];
        let base64 = |extra: [char; 2]| {
            body.len() == 43
                && body
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || extra.contains(&c))
        };
        match built.rules.event_id_format {
            EventIdFormatVersion::V1 => assert_eq!(create_id, "$create:a.test"),
            EventIdFormatVersion::V2 => assert!(base64(['+', '/']), "{version}: {create_id}"),
            _ => assert!(base64(['-', '_']), "{version}: {create_id}"),
        }
        let join = &built.event("alice_join").remote;
        let pdu = join.pdu().expect("a join that parses");
        assert_eq!(pdu.room(), built.room_id, "{version}");
        if built.rules.authorization.room_create_event_id_as_room_id {
            assert_eq!(&built.room_id.as_str()[1..], body, "{version}");
            assert!(
                pdu.auth_events.is_empty(),
                "{version}: the create is implied"
            );
            let create = &built.event("create").remote.object;
            assert!(!create.contains_key("room_id"), "{version}");
        } else {
            assert_eq!(pdu.auth_events, [built.id("create").clone()], "{version}");
        }
        let pairs = built.rules.events_reference_format == EventsReferenceFormatVersion::V1;
        let Some(CanonicalJsonValue::Array(references)) = join.object.get("prev_events") else {
            panic!("{version}: prev_events is a list");
        };
        assert_eq!(
            matches!(&references[0], CanonicalJsonValue::Array(pair) if pair.len() == 2),
            pairs,
            "{version}: [id, hashes] references only in version 2"
        );
    }
}
