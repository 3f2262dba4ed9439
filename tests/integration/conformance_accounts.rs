//! Accounts, sessions, profiles and keys as clients nobody here wrote expect them (Element Web's
//! registration probe, Complement's `tests/csapi`).

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{PASSWORD, TestServer, assert_error};

/// Element Web's first probe is `{"initial_device_display_name": …}` alone: it shows the form
/// only on a 401 with the flows [Complement TestRegistration "POST {} returns a set of flows"].
#[tokio::test]
async fn registration_answers_the_flows_before_validating_anything_else() {
    let server = TestServer::start().await;
    for body in [
        json!({}),
        json!({ "initial_device_display_name": "Element Web" }),
        json!({ "username": "probe", "password": PASSWORD }),
    ] {
        let (status, answer) = server
            .post("/_matrix/client/v3/register", None, body.clone())
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body} → {answer}");
        let stages: Vec<&str> = answer["flows"][0]["stages"]
            .as_array()
            .expect("flows")
            .iter()
            .filter_map(|stage| stage.as_str())
            .collect();
        assert_eq!(stages, ["m.login.dummy"], "{answer}");
        assert!(answer["session"].is_string(), "{answer}");
    }
    // With the stages done but no password: 400, as Synapse.
    let (_, first) = server
        .post("/_matrix/client/v3/register", None, json!({}))
        .await;
    let session = first["session"].as_str().expect("session");
    assert_error(
        &server
            .post(
                "/_matrix/client/v3/register",
                None,
                json!({ "username": "nopass", "auth": { "type": "m.login.dummy", "session": session } }),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "M_MISSING_PARAM",
    );
}

#[tokio::test]
async fn inhibit_login_answers_only_the_user_id() {
    let server = TestServer::start().await;
    let (status, answer) = server
        .post(
            "/_matrix/client/v3/register",
            None,
            json!({
                "username": "quiet",
                "password": PASSWORD,
                "inhibit_login": true,
                "auth": { "type": "m.login.dummy" },
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let keys: Vec<&String> = answer.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["user_id"], "{answer}");
    assert!(
        answer["user_id"]
            .as_str()
            .is_some_and(|user| user.starts_with("@quiet:"))
    );
}

/// [Complement TestLogin]: a stale `Authorization` header does not stop a login, and a wrong
/// password or an unknown user is 403 M_FORBIDDEN.
#[tokio::test]
async fn login_ignores_a_stale_token_and_refuses_bad_credentials_with_403() {
    let server = TestServer::start().await;
    server.register("alice").await;
    let login = |user: &str, password: &str| {
        json!({
            "type": "m.login.password",
            "identifier": { "type": "m.id.user", "user": user },
            "password": password,
        })
    };
    let (status, answer) = server
        .post(
            "/_matrix/client/v3/login",
            Some("stale_token_from_an_old_session"),
            login("alice", PASSWORD),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(answer["access_token"].is_string());
    for (user, password) in [("alice", "wrong password"), ("nobody", PASSWORD)] {
        assert_error(
            &server
                .post("/_matrix/client/v3/login", None, login(user, password))
                .await,
            StatusCode::FORBIDDEN,
            "M_FORBIDDEN",
        );
    }
}

#[tokio::test]
async fn versions_advertise_cross_signing_for_element_web() {
    let server = TestServer::start().await;
    let (status, versions) = server.get("/_matrix/client/versions", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        versions["unstable_features"]["org.matrix.e2e_cross_signing"],
        true
    );
}

/// A new display name or avatar reaches every room the user is in (as a new member event that
/// others sync), the user directory follows, and any avatar string is accepted
/// [Complement TestAvatarUrlUpdate].
#[tokio::test]
async fn profile_changes_reach_every_joined_room_and_the_directory() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let first = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    let second = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    for room_id in [&first, &second] {
        assert_eq!(server.join(&bob, room_id).await.0, StatusCode::OK);
    }
    let base = format!("/_matrix/client/v3/profile/{}", alice.user_id);
    let token = Some(alice.access_token.as_str());
    assert_eq!(
        server
            .put(
                &format!("{base}/displayname"),
                token,
                json!({ "displayname": "Alice Renamed" })
            )
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        server
            .put(
                &format!("{base}/avatar_url"),
                token,
                json!({ "avatar_url": "https://example.org/not-mxc.png" })
            )
            .await
            .0,
        StatusCode::OK
    );
    for room_id in [&first, &second] {
        let (status, member) = server
            .get(
                &format!(
                    "/_matrix/client/v3/rooms/{room_id}/state/m.room.member/{}",
                    alice.user_id
                ),
                Some(&bob.access_token),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(member["membership"], "join");
        assert_eq!(member["displayname"], "Alice Renamed", "{member}");
        assert_eq!(member["avatar_url"], "https://example.org/not-mxc.png");
        let (_, joined) = server
            .get(
                &format!("/_matrix/client/v3/rooms/{room_id}/joined_members"),
                Some(&bob.access_token),
            )
            .await;
        assert_eq!(
            joined["joined"][&alice.user_id]["display_name"],
            "Alice Renamed"
        );
        // Bob set neither: both keys are there, null.
        let bob_entry = joined["joined"][&bob.user_id]
            .as_object()
            .expect("bob is joined");
        assert!(
            bob_entry
                .get("avatar_url")
                .is_some_and(|value| value.is_null())
        );
        assert!(bob_entry.contains_key("display_name"), "{joined}");
    }
    // Bob's sync shows the change as a member event in the timeline of both rooms.
    let sync = server.sync(&bob, None, 0).await;
    for room_id in [&first, &second] {
        let timeline = sync["rooms"]["join"][room_id.as_str()]["timeline"]["events"]
            .as_array()
            .expect("timeline")
            .clone();
        assert!(
            timeline.iter().any(|event| event["type"] == "m.room.member"
                && event["state_key"] == alice.user_id.as_str()
                && event["content"]["displayname"] == "Alice Renamed"),
            "{timeline:?}"
        );
    }
    let (_, found) = server
        .post(
            "/_matrix/client/v3/user_directory/search",
            Some(&bob.access_token),
            json!({ "search_term": "Renamed" }),
        )
        .await;
    assert!(
        found["results"].as_array().is_some_and(|results| results
            .iter()
            .any(|user| user["user_id"] == alice.user_id.as_str())),
        "{found}"
    );
}

/// One-time keys are claimed oldest upload first (spec 1.13) [Complement TestKeyClaimOrdering].
#[tokio::test]
async fn one_time_keys_are_claimed_in_upload_order() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    // Key ids chosen so that id order is the reverse of upload order.
    for batch in [
        ["signed_curve25519:zz", "signed_curve25519:zy"],
        ["signed_curve25519:aa", "signed_curve25519:ab"],
    ] {
        let keys: serde_json::Map<String, serde_json::Value> = batch
            .iter()
            .map(|id| ((*id).to_owned(), crate::e2ee::one_time_key(1)))
            .collect();
        let (status, _) = server
            .post(
                "/_matrix/client/v3/keys/upload",
                Some(&alice.access_token),
                json!({ "one_time_keys": keys }),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let mut claimed = Vec::new();
    for _ in 0..4 {
        let (status, answer) = server
            .post(
                "/_matrix/client/v3/keys/claim",
                Some(&bob.access_token),
                json!({ "one_time_keys": { alice.user_id.clone(): { alice.device_id.clone(): "signed_curve25519" } } }),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let keys = answer["one_time_keys"][&alice.user_id][&alice.device_id]
            .as_object()
            .expect("a key")
            .clone();
        claimed.extend(keys.keys().cloned());
    }
    let first_upload: Vec<&str> = claimed[..2].iter().map(String::as_str).collect();
    assert!(
        first_upload.contains(&"signed_curve25519:zz")
            && first_upload.contains(&"signed_curve25519:zy"),
        "the first upload's keys come first: {claimed:?}"
    );
}

/// User-interactive auth with someone else's password does not authorise deleting one's own
/// device: 403 [Complement TestDeviceManagement].
#[tokio::test]
async fn uia_with_another_users_password_is_refused() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let device = format!("/_matrix/client/v3/devices/{}", alice.device_id);
    let (status, first) = server
        .request(
            reqwest::Method::DELETE,
            &device,
            Some(&alice.access_token),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let session = first["session"].as_str().expect("session");
    let bob_localpart = bob
        .user_id
        .trim_start_matches('@')
        .split(':')
        .next()
        .expect("localpart");
    let (status, answer) = server
        .request(
            reqwest::Method::DELETE,
            &device,
            Some(&alice.access_token),
            Some(json!({ "auth": {
                "type": "m.login.password",
                "identifier": { "type": "m.id.user", "user": bob_localpart },
                "password": PASSWORD,
                "session": session,
            } })),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert_eq!(answer["errcode"], "M_FORBIDDEN");
    let (status, _) = server
        .get(
            "/_matrix/client/v3/account/whoami",
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "the device is still there");
}

/// Third-party identifiers: Myelin validates none, and every endpoint says so in the spec's
/// terms instead of `404 M_UNRECOGNIZED`: `requestToken` is `400 M_THREEPID_MEDIUM_NOT_SUPPORTED`
/// (spec v1.13, MSC4178), adding or binding an unvalidated session `400 M_THREEPID_AUTH_FAILED`,
/// and removing an identifier the account does not have reports `no-support`. Bad bodies are
/// still `400` with their own code.
#[tokio::test]
async fn third_party_identifier_endpoints_answer_in_the_specs_terms() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let email =
        json!({ "client_secret": "secret123", "email": "alice@example.org", "send_attempt": 1 });
    let phone = json!({ "client_secret": "secret123", "country": "GB", "phone_number": "07700900000", "send_attempt": 1 });
    for (path, body) in [
        ("/_matrix/client/v3/register/email/requestToken", &email),
        ("/_matrix/client/v3/register/msisdn/requestToken", &phone),
        (
            "/_matrix/client/v3/account/password/email/requestToken",
            &email,
        ),
        (
            "/_matrix/client/v3/account/password/msisdn/requestToken",
            &phone,
        ),
        ("/_matrix/client/v3/account/3pid/email/requestToken", &email),
        (
            "/_matrix/client/v3/account/3pid/msisdn/requestToken",
            &phone,
        ),
    ] {
        let response = server
            .post(path, Some(&alice.access_token), body.clone())
            .await;
        assert_error(
            &response,
            StatusCode::BAD_REQUEST,
            "M_THREEPID_MEDIUM_NOT_SUPPORTED",
        );
    }
    let missing = server
        .post(
            "/_matrix/client/v3/register/email/requestToken",
            None,
            json!({ "email": "alice@example.org" }),
        )
        .await;
    assert_eq!(missing.0, StatusCode::BAD_REQUEST, "{}", missing.1);
    assert_ne!(missing.1["errcode"], "M_THREEPID_MEDIUM_NOT_SUPPORTED");

    let session = json!({ "client_secret": "secret123", "sid": "nosuchsession" });
    assert_error(
        &server
            .post(
                "/_matrix/client/v3/account/3pid/add",
                Some(&alice.access_token),
                session.clone(),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "M_THREEPID_AUTH_FAILED",
    );
    let mut bind = session.clone();
    bind["id_server"] = "id.example.org".into();
    bind["id_access_token"] = "token".into();
    assert_error(
        &server
            .post(
                "/_matrix/client/v3/account/3pid/bind",
                Some(&alice.access_token),
                bind,
            )
            .await,
        StatusCode::BAD_REQUEST,
        "M_THREEPID_AUTH_FAILED",
    );
    let threepid = json!({ "medium": "email", "address": "alice@example.org" });
    for path in [
        "/_matrix/client/v3/account/3pid/delete",
        "/_matrix/client/v3/account/3pid/unbind",
    ] {
        let (status, body) = server
            .post(path, Some(&alice.access_token), threepid.clone())
            .await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert_eq!(body, json!({ "id_server_unbind_result": "no-support" }));
    }
    let (_, listed) = server
        .get("/_matrix/client/v3/account/3pid", Some(&alice.access_token))
        .await;
    assert_eq!(listed, json!({ "threepids": [] }));
    // Without a token, the account endpoints are 401 like any other.
    assert_error(
        &server
            .post("/_matrix/client/v3/account/3pid/add", None, session)
            .await,
        StatusCode::UNAUTHORIZED,
        "M_MISSING_TOKEN",
    );
}
