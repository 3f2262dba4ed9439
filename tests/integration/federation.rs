//! The federation listener: version and signing keys.

use std::collections::BTreeMap;

use ruma::{CanonicalJsonObject, serde::Base64};
use serde_json::Value;

use crate::common::TestServer;

async fn key_document(server: &TestServer) -> Value {
    let address = server
        .server()
        .federation_addr
        .expect("federation listener");
    reqwest::get(format!("http://{address}/_matrix/key/v2/server"))
        .await
        .expect("request")
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn the_key_document_is_self_signed_and_stable_across_restarts() {
    let mut server = TestServer::start().await;
    let document = key_document(&server).await;
    assert_eq!(document["server_name"], "localhost");
    let now = myelin_core::users::now_ms();
    assert!(
        document["valid_until_ts"]
            .as_u64()
            .is_some_and(|until| until > now + 3_600_000),
        "{document}"
    );
    let keys = document["verify_keys"].as_object().expect("verify_keys");
    assert_eq!(keys.len(), 1);
    let (key_id, key) = keys.iter().next().expect("one key");
    assert!(key_id.starts_with("ed25519:"), "{key_id}");

    // Verify the signature with the key the document itself lists, as other servers do.
    let public = Base64::parse(key["key"].as_str().expect("key")).expect("unpadded base64");
    let key_map = BTreeMap::from([(
        "localhost".to_owned(),
        BTreeMap::from([(key_id.clone(), public)]),
    )]);
    let object: CanonicalJsonObject =
        serde_json::from_value(document.clone()).expect("canonical json");
    ruma::signatures::verify_json(&key_map, &object).expect("valid signature");
    let mut tampered = object.clone();
    tampered.insert(
        "server_name".into(),
        ruma::CanonicalJsonValue::String("evil.example".into()),
    );
    assert!(
        ruma::signatures::verify_json(&key_map, &tampered).is_err(),
        "a changed document fails verification"
    );

    server.restart(|_| {}).await;
    let again = key_document(&server).await;
    assert_eq!(
        again["verify_keys"], document["verify_keys"],
        "the signing key is generated once and kept"
    );
}
