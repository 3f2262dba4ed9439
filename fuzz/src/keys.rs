//! The fixed Ed25519 key pair the targets sign and verify with (its seed was drawn once, so
//! the seed corpus stays signed by it), and the public key maps naming it.

use std::collections::BTreeMap;

use myelin_core::keys::{CachedKey, CachedServerKeys};
use ruma::{
    OwnedServerName,
    serde::Base64,
    signatures::{Ed25519KeyPair, PublicKeyMap},
};

/// The server whose key this is.
pub const ORIGIN: &str = "origin.example";
/// The receiving server of signed federation requests.
pub const DESTINATION: &str = "myelin.example";
/// The key's version (`ed25519:fuzz`).
pub const VERSION: &str = "fuzz";

const SEED: [u8; 32] = [
    0x59, 0x67, 0xe2, 0xdf, 0x5f, 0xf2, 0x67, 0x5f, 0xa3, 0xc3, 0x2d, 0x85, 0xa6, 0xac, 0x86, 0xba,
    0xff, 0x0c, 0x89, 0x45, 0x26, 0xb9, 0x0b, 0xdf, 0xc4, 0x9a, 0xf8, 0xbc, 0x90, 0x03, 0x68, 0xd5,
];

/// The key pair, from a PKCS#8 v1 document around the seed.
pub fn key_pair() -> Ed25519KeyPair {
    let mut document = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    document.extend_from_slice(&SEED);
    Ed25519KeyPair::from_der(&document, VERSION.to_owned()).expect("a valid PKCS#8 document")
}

/// The public key, unpadded base64.
pub fn public_key_base64() -> String {
    let key: Base64 = Base64::new(key_pair().public_key().to_vec());
    key.encode()
}

/// `{ORIGIN: {"ed25519:fuzz": key}}`.
pub fn public_key_map() -> PublicKeyMap {
    let key = Base64::parse(public_key_base64()).expect("valid base64");
    PublicKeyMap::from([(
        ORIGIN.to_owned(),
        BTreeMap::from([(format!("ed25519:{VERSION}"), key)]),
    )])
}

/// The same key as Myelin's key cache holds it, for the inbound PDU checks.
pub fn cached_keys() -> BTreeMap<OwnedServerName, CachedServerKeys> {
    let origin = OwnedServerName::try_from(ORIGIN).expect("a valid server name");
    let keys = CachedServerKeys {
        keys: BTreeMap::from([(
            format!("ed25519:{VERSION}"),
            CachedKey {
                key: public_key_base64(),
                valid_until_ts: u64::MAX,
                expired_ts: None,
            },
        )]),
    };
    BTreeMap::from([(origin, keys)])
}
