//! Server-side key backup: versions, keys per room and session, etags and counts, the rules that
//! keep the better copy of a session, and writes to stale versions refused.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestServer, TestUser, assert_error};

const ALGORITHM: &str = "m.megolm_backup.v1.curve25519-aes-sha2";

fn session(first_message_index: u64, forwarded_count: u64, is_verified: bool, tag: &str) -> Value {
    json!({
        "first_message_index": first_message_index,
        "forwarded_count": forwarded_count,
        "is_verified": is_verified,
        "session_data": { "ephemeral": tag, "ciphertext": tag, "mac": tag },
    })
}

async fn create_version(server: &TestServer, user: &TestUser, public_key: &str) -> String {
    let (status, body) = server
        .post(
            "/_matrix/client/v3/room_keys/version",
            Some(&user.access_token),
            json!({ "algorithm": ALGORITHM, "auth_data": { "public_key": public_key } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["version"].as_str().expect("version").to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn backed_up_keys_keep_the_better_copy_and_count_changes() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let token = Some(alice.access_token.as_str());
    let absent = server
        .get("/_matrix/client/v3/room_keys/version", token)
        .await;
    assert_error(&absent, StatusCode::NOT_FOUND, "M_NOT_FOUND");

    let version = create_version(&server, &alice, "pub1").await;
    let (status, info) = server
        .get("/_matrix/client/v3/room_keys/version", token)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["version"], version);
    assert_eq!(info["algorithm"], ALGORITHM);
    assert_eq!(info["auth_data"], json!({ "public_key": "pub1" }));
    assert_eq!(info["count"], 0);
    let first_etag = info["etag"].clone();

    let room = "!room:localhost";
    let (status, stored) = server
        .put(
            &format!("/_matrix/client/v3/room_keys/keys?version={version}"),
            token,
            json!({ "rooms": { room: { "sessions": {
                "s1": session(5, 0, false, "first"),
                "s2": session(0, 0, false, "other"),
            } } } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert_eq!(stored["count"], 2);
    assert_ne!(stored["etag"], first_etag);

    // A worse copy (higher index) is ignored and leaves the etag alone; a better one replaces.
    let session_path = format!("/_matrix/client/v3/room_keys/keys/{room}/s1?version={version}");
    let (_, worse) = server
        .put(&session_path, token, session(9, 0, false, "worse"))
        .await;
    assert_eq!(worse["etag"], stored["etag"], "{worse}");
    let (_, kept) = server.get(&session_path, token).await;
    assert_eq!(kept["session_data"]["ciphertext"], "first");
    let (_, verified) = server
        .put(&session_path, token, session(7, 1, true, "verified"))
        .await;
    assert_ne!(verified["etag"], stored["etag"]);
    assert_eq!(verified["count"], 2);
    let (_, kept) = server.get(&session_path, token).await;
    assert_eq!(kept["session_data"]["ciphertext"], "verified", "{kept}");

    // Whole-backup and per-room reads.
    let (_, all) = server
        .get(
            &format!("/_matrix/client/v3/room_keys/keys?version={version}"),
            token,
        )
        .await;
    assert_eq!(
        all["rooms"][room]["sessions"]["s2"]["session_data"]["ciphertext"],
        "other"
    );
    let (_, empty_room) = server
        .get(
            &format!("/_matrix/client/v3/room_keys/keys/!empty:localhost?version={version}"),
            token,
        )
        .await;
    assert_eq!(empty_room, json!({ "sessions": {} }));

    // Deleting a session, then the room.
    let deleted = server
        .request(reqwest::Method::DELETE, &session_path, token, None)
        .await;
    assert_eq!(deleted.1["count"], 1, "{}", deleted.1);
    let missing = server.get(&session_path, token).await;
    assert_error(&missing, StatusCode::NOT_FOUND, "M_NOT_FOUND");
    let deleted = server
        .request(
            reqwest::Method::DELETE,
            &format!("/_matrix/client/v3/room_keys/keys/{room}?version={version}"),
            token,
            None,
        )
        .await;
    assert_eq!(deleted.1["count"], 0, "{}", deleted.1);

    // Another user sees none of it.
    let bob = server.register("bob").await;
    let theirs = server
        .get(
            &format!("/_matrix/client/v3/room_keys/version/{version}"),
            Some(&bob.access_token),
        )
        .await;
    assert_error(&theirs, StatusCode::NOT_FOUND, "M_NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread")]
async fn stale_versions_and_bad_sessions_are_refused() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let token = Some(alice.access_token.as_str());
    let old = create_version(&server, &alice, "pub1").await;
    let current = create_version(&server, &alice, "pub2").await;
    assert_ne!(old, current);

    let stale = server
        .put(
            &format!("/_matrix/client/v3/room_keys/keys/!r:localhost/s?version={old}"),
            token,
            session(0, 0, false, "x"),
        )
        .await;
    assert_error(&stale, StatusCode::FORBIDDEN, "M_WRONG_ROOM_KEYS_VERSION");
    assert_eq!(stale.1["current_version"], current);
    let unknown = server
        .put(
            "/_matrix/client/v3/room_keys/keys/!r:localhost/s?version=999",
            token,
            session(0, 0, false, "x"),
        )
        .await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "M_NOT_FOUND");
    let malformed = server
        .put(
            &format!("/_matrix/client/v3/room_keys/keys/!r:localhost/s?version={current}"),
            token,
            json!({ "first_message_index": "zero", "session_data": {} }),
        )
        .await;
    assert_eq!(malformed.0, StatusCode::BAD_REQUEST, "{}", malformed.1);
    let (_, info) = server
        .get(
            &format!("/_matrix/client/v3/room_keys/version/{current}"),
            token,
        )
        .await;
    assert_eq!(info["count"], 0, "nothing was stored: {info}");

    // The algorithm of a version cannot change; its auth data can.
    let changed = server
        .put(
            &format!("/_matrix/client/v3/room_keys/version/{current}"),
            token,
            json!({ "algorithm": "m.other", "auth_data": {} }),
        )
        .await;
    assert_error(&changed, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
    let (status, _) = server
        .put(
            &format!("/_matrix/client/v3/room_keys/version/{current}"),
            token,
            json!({ "algorithm": ALGORITHM, "auth_data": { "public_key": "pub3" }, "version": current }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, info) = server
        .get("/_matrix/client/v3/room_keys/version", token)
        .await;
    assert_eq!(info["auth_data"]["public_key"], "pub3");

    // Deleting the current version makes the older one current again; numbers are not reused.
    let (status, _) = server
        .request(
            reqwest::Method::DELETE,
            &format!("/_matrix/client/v3/room_keys/version/{current}"),
            token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, info) = server
        .get("/_matrix/client/v3/room_keys/version", token)
        .await;
    assert_eq!(info["version"], old);
    let newest = create_version(&server, &alice, "pub4").await;
    assert_ne!(newest, current);
}
