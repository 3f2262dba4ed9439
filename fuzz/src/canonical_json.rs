//! Canonical JSON and signatures: any JSON that canonicalises renders to one stable string that
//! parses back to the same value; signatures never panic to check, and what Myelin signs with its
//! key verifies.

use std::sync::OnceLock;

use ruma::{
    CanonicalJsonObject, CanonicalJsonValue,
    room_version_rules::RoomVersionRules,
    signatures::{Ed25519KeyPair, PublicKeyMap, sign_json, verify_event, verify_json},
};
use serde_json::Value as JsonValue;

use crate::keys;

fn fixed() -> &'static (Ed25519KeyPair, PublicKeyMap) {
    static FIXED: OnceLock<(Ed25519KeyPair, PublicKeyMap)> = OnceLock::new();
    FIXED.get_or_init(|| (keys::key_pair(), keys::public_key_map()))
}

pub fn run(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<JsonValue>(data) else {
        return;
    };
    let Ok(canonical) = CanonicalJsonValue::try_from(value) else {
        return;
    };
    let text = canonical.to_string();
    let reparsed: JsonValue = serde_json::from_str(&text).expect("canonical JSON is JSON");
    let reparsed = CanonicalJsonValue::try_from(reparsed).expect("canonical JSON canonicalises");
    assert_eq!(
        reparsed, canonical,
        "the canonical form parses to the same value"
    );
    assert_eq!(reparsed.to_string(), text, "the canonical form is stable");

    let CanonicalJsonValue::Object(object) = canonical else {
        return;
    };
    let (pair, map) = fixed();
    // Whatever signatures it carries, checking them must not panic.
    let _ = verify_json(map, &object);
    let _ = verify_event(map, &object, &RoomVersionRules::V11);
    let _ = verify_event(map, &object, &RoomVersionRules::V1);

    // Signed by us, it verifies.
    let mut mine: CanonicalJsonObject = object;
    mine.remove("signatures");
    mine.remove("unsigned");
    let unsigned_text = CanonicalJsonValue::Object(mine.clone()).to_string();
    sign_json(keys::ORIGIN, pair, &mut mine).expect("an object without signatures signs");
    verify_json(map, &mine).expect("what we signed verifies");
    // The signature covers the content: the signed object less its signatures is what we had.
    mine.remove("signatures");
    assert_eq!(CanonicalJsonValue::Object(mine).to_string(), unsigned_text);
}
