//! PDUs from other servers: what `myelin_federation` checks before ingest (size, format,
//! reference hash and event id, signatures, content hash with redaction on a mismatch), the
//! parse into `PduEvent` and the views clients get, for room versions 1, 3, 10, 11 and 12.

use std::sync::OnceLock;

use myelin_core::{keys::CachedServerKeys, rooms::PduEvent};
use ruma::{
    CanonicalJsonObject, EventId, OwnedServerName,
    canonical_json::redact,
    room_version_rules::{EventIdFormatVersion, RoomVersionRules},
    signatures::{PublicKeyMap, reference_hash, verify_event},
};
use serde_json::Value as JsonValue;

use crate::keys;

const RULES: [(&str, RoomVersionRules); 5] = [
    ("v1", RoomVersionRules::V1),
    ("v3", RoomVersionRules::V3),
    ("v10", RoomVersionRules::V10),
    ("v11", RoomVersionRules::V11),
    ("v12", RoomVersionRules::V12),
];

struct Fixed {
    cached: std::collections::BTreeMap<OwnedServerName, CachedServerKeys>,
    map: PublicKeyMap,
}

fn fixed() -> &'static Fixed {
    static FIXED: OnceLock<Fixed> = OnceLock::new();
    FIXED.get_or_init(|| Fixed {
        cached: keys::cached_keys(),
        map: keys::public_key_map(),
    })
}

/// Everything a stored PDU is asked for on the client paths.
fn views(pdu: &PduEvent) {
    let _ = pdu.room();
    let _ = pdu.to_client_event(true);
    let _ = pdu.redacted_event();
    let _ = pdu.state_key_pair();
    let _ = pdu.is_state();
}

pub fn run(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<JsonValue>(data) else {
        return;
    };
    // A stored PDU read back (`Rooms::pdu`).
    for id in ["$stored:example.org", "$stored"] {
        let id = EventId::parse(id).expect("a valid event id");
        if let Ok(pdu) = PduEvent::from_json_bytes(id, data) {
            views(&pdu);
        }
    }
    let fixed = fixed();
    let object = serde_json::from_value::<CanonicalJsonObject>(value.clone()).ok();
    for (name, rules) in &RULES {
        // The inbound checks, with the origin's key known.
        let checked = myelin_federation::fuzzing::check_pdu(value.clone(), rules, &fixed.cached);
        if crate::debug() {
            eprintln!(
                "{name}: {:?}",
                checked.as_ref().map(|event| &event.event_id)
            );
        }
        if let Ok(event) = checked {
            if rules.event_id_format == EventIdFormatVersion::V1 {
                // Versions 1 and 2: the id is the one its sender wrote into the event.
                assert_eq!(
                    event.object.get("event_id").and_then(|id| id.as_str()),
                    Some(event.event_id.as_str()),
                    "a v1-format id is the event's own"
                );
            } else {
                // The id is the reference hash of what was accepted (a redacted copy keeps it).
                let hash = reference_hash(&event.object, rules).expect("an accepted PDU hashes");
                assert_eq!(event.event_id.as_str(), format!("${hash}"));
            }
            if let Ok(pdu) = event.pdu() {
                views(&pdu);
            }
        }
        let Some(object) = object.as_ref() else {
            continue;
        };
        let _ = ruma::state_res::check_pdu_format(object, &rules.event_format);
        let _ = verify_event(&fixed.map, object, rules);
        let hash = reference_hash(object, rules);
        if let Ok(redacted) = redact(object.clone(), &rules.redaction, None) {
            // Redaction is idempotent and keeps the reference hash (so the event id).
            let again = redact(redacted.clone(), &rules.redaction, None)
                .expect("a redacted event redacts again");
            assert_eq!(again, redacted, "redaction is idempotent");
            if let Ok(hash) = &hash {
                assert_eq!(
                    reference_hash(&redacted, rules).ok().as_ref(),
                    Some(hash),
                    "redaction keeps the reference hash"
                );
            }
        }
        if let Ok(hash) = hash {
            let id = EventId::parse(format!("${hash}")).expect("a reference hash is an event id");
            if let Ok(pdu) = PduEvent::from_canonical(id, object) {
                views(&pdu);
            }
        }
    }
}
