//! The federation listener: version and signing keys.

use std::collections::BTreeMap;

use ruma::{CanonicalJsonObject, serde::Base64};
use serde_json::Value;

use crate::common::TestServer;

fn key_document(server: &TestServer) -> Value {
    let address = server
        .server()
        .federation_addr
        .expect("federation listener");
    crate::common::federation_get(address, "/_matrix/key/v2/server")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_key_document_is_self_signed_and_stable_across_restarts() {
    let mut server = TestServer::start().await;
    let document = key_document(&server);
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
    let again = key_document(&server);
    assert_eq!(
        again["verify_keys"], document["verify_keys"],
        "the signing key is generated once and kept"
    );

    // Rotating (server stopped, as the CLI does) publishes the old key as expired.
    server.stop().await;
    {
        let store = myelin_core::storage::Store::open(
            myelin_core::storage::BackendKind::Redb,
            server.dir.path(),
        )
        .expect("store");
        let new_key = myelin_core::keys::ServerKeys::rotate(&store).expect("rotate");
        assert_ne!(new_key, *key_id);
        store.flush().expect("flush");
    }
    server.restart(|_| {}).await;
    let rotated = key_document(&server);
    let current = rotated["verify_keys"].as_object().expect("verify_keys");
    assert_eq!(current.len(), 1);
    assert!(!current.contains_key(key_id), "{rotated}");
    let old = &rotated["old_verify_keys"][key_id];
    assert_eq!(old["key"], key["key"], "{rotated}");
    assert!(
        old["expired_ts"].as_u64().is_some_and(|ts| ts >= now),
        "{rotated}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn federation_speaks_tls_with_a_generated_certificate_and_plain_http_when_told() {
    let server = TestServer::start().await;
    let address = server
        .server()
        .federation_addr
        .expect("federation listener");
    let plain = std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("http://{address}/_matrix/federation/v1/version"),
        ])
        .output()
        .expect("curl");
    assert_ne!(
        String::from_utf8_lossy(&plain.stdout),
        "200",
        "plain HTTP is not served on the TLS port"
    );
    assert!(
        server.dir.path().join("federation-tls.crt").exists(),
        "the self-signed certificate is kept in the data directory"
    );

    let plain_server = TestServer::start_with(|config| config.federation.tls = false).await;
    let address = plain_server
        .server()
        .federation_addr
        .expect("federation listener");
    let version: Value = reqwest::get(format!("http://{address}/_matrix/federation/v1/version"))
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(version["server"]["name"], "Myelin");
}
