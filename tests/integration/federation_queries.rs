//! What servers in a room may read of it over federation (state, history, auth chains, events
//! by time) and what other servers' clients see through federation (profiles, aliases,
//! directories, joins by alias).
use reqwest::StatusCode;
use serde_json::json;

use crate::{common::TestServer, federation_helpers::*};

#[tokio::test(flavor = "multi_thread")]
async fn state_history_and_queries_are_served_to_servers_in_the_room() {
    let (a, b, alice, bob, room_id) = setup().await;
    let set = a
        .put(
            &format!("/_matrix/client/v3/profile/{}/displayname", alice.user_id),
            Some(&alice.access_token),
            json!({ "displayname": "Alice A." }),
        )
        .await;
    assert_eq!(set.0, StatusCode::OK, "{}", set.1);
    let alias = format!("#lobby:{}", a.server_name());
    let aliased = a
        .put(
            &format!(
                "/_matrix/client/v3/directory/room/{}",
                alias.replace('#', "%23")
            ),
            Some(&alice.access_token),
            json!({ "room_id": room_id }),
        )
        .await;
    assert_eq!(aliased.0, StatusCode::OK, "{}", aliased.1);
    let published = a
        .put(
            &format!("/_matrix/client/v3/directory/list/room/{room_id}"),
            Some(&alice.access_token),
            json!({ "visibility": "public" }),
        )
        .await;
    assert_eq!(published.0, StatusCode::OK, "{}", published.1);
    let message = a.send_text(&alice, &room_id, "a message").await;
    let after_message = myelin_core::users::now_ms();

    // Clients of B see A's profiles, aliases and directory through federation.
    let (status, profile) = b
        .get(
            &format!("/_matrix/client/v3/profile/{}", alice.user_id),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(
        (status, profile["displayname"].clone()),
        (StatusCode::OK, json!("Alice A.")),
        "{profile}"
    );
    let (status, resolved) = b
        .get(
            &format!(
                "/_matrix/client/v3/directory/room/{}",
                alias.replace('#', "%23")
            ),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{resolved}");
    assert_eq!(resolved["room_id"], room_id.as_str());
    assert_eq!(resolved["servers"][0], a.server_name().as_str());
    let (status, directory) = b
        .get(
            &format!("/_matrix/client/v3/publicRooms?server={}", a.server_name()),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{directory}");
    assert_eq!(
        directory["chunk"][0]["room_id"],
        room_id.as_str(),
        "{directory}"
    );

    // A user of a third server joins by the alias alone.
    let (c, _) = TestServer::start_federated().await;
    let carol = c.register("carol").await;
    let joined = c
        .post(
            &format!("/_matrix/client/v3/join/{}", alias.replace('#', "%23")),
            Some(&carol.access_token),
            json!({}),
        )
        .await;
    assert_eq!(joined.0, StatusCode::OK, "{}", joined.1);
    assert_eq!(joined.1["room_id"], room_id.as_str());

    // Servers in the room read its state and history; others cannot.
    let (status, ids) = federation_get_as(
        &b,
        &a,
        &format!("/_matrix/federation/v1/state_ids/{room_id}?event_id={message}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{ids}");
    let pdu_ids = ids["pdu_ids"].as_array().expect("pdu_ids");
    assert!(
        pdu_ids.len() >= 5
            && ids["auth_chain_ids"]
                .as_array()
                .is_some_and(|chain| !chain.is_empty()),
        "{ids}"
    );
    let (status, state) = federation_get_as(
        &b,
        &a,
        &format!("/_matrix/federation/v1/state/{room_id}?event_id={message}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(state["pdus"].as_array().map(Vec::len), Some(pdu_ids.len()));
    let (status, auth) = federation_get_as(
        &b,
        &a,
        &format!("/_matrix/federation/v1/event_auth/{room_id}/{message}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        auth["auth_chain"]
            .as_array()
            .is_some_and(|chain| chain.iter().any(|event| event["type"] == "m.room.create")),
        "{auth}"
    );
    let (status, backfill) = federation_get_as(
        &b,
        &a,
        &format!("/_matrix/federation/v1/backfill/{room_id}?v={message}&limit=3"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let pdus = backfill["pdus"].as_array().expect("pdus");
    assert_eq!(pdus.len(), 3, "{backfill}");
    assert_eq!(pdus[0]["content"]["body"], "a message");
    let (status, nearest) = federation_get_as(
        &b,
        &a,
        &format!("/_matrix/federation/v1/timestamp_to_event/{room_id}?ts={after_message}&dir=b"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{nearest}");
    assert_eq!(nearest["event_id"], message.as_str());
    let (status, event) =
        federation_get_as(&b, &a, &format!("/_matrix/federation/v1/event/{message}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(event["pdus"][0]["content"]["body"], "a message");

    let (d, _) = TestServer::start_federated().await;
    let (status, refused) = federation_get_as(
        &d,
        &a,
        &format!("/_matrix/federation/v1/state_ids/{room_id}?event_id={message}"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert_eq!(refused["errcode"], "M_FORBIDDEN");
}

/// OpenID: a token from the client API names its user to a third party asking the federation
/// listener; unknown tokens are refused with `M_UNKNOWN_TOKEN`; no token for someone else.
#[tokio::test(flavor = "multi_thread")]
async fn openid_tokens_identify_their_user_through_userinfo() {
    let (server, _) = TestServer::start_federated().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let path = format!(
        "/_matrix/client/v3/user/{}/openid/request_token",
        alice.user_id
    );
    let (status, token) = server
        .post(&path, Some(&alice.access_token), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{token}");
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["matrix_server_name"], server.server_name());
    assert_eq!(token["expires_in"], 3600);
    let access_token = token["access_token"].as_str().expect("token").to_owned();

    let address = server
        .server()
        .federation_addr
        .expect("federation listener");
    let userinfo = |token: String| {
        std::process::Command::new("curl")
            .args([
                "-sk",
                "-w",
                "\n%{http_code}",
                &format!(
                    "https://{address}/_matrix/federation/v1/openid/userinfo?access_token={token}"
                ),
            ])
            .output()
            .expect("curl runs")
    };
    let answer = String::from_utf8(userinfo(access_token).stdout).expect("utf-8");
    let (body, status) = answer.rsplit_once('\n').expect("status line");
    assert_eq!(status, "200", "{answer}");
    let body: serde_json::Value = serde_json::from_str(body).expect("json");
    assert_eq!(body, json!({ "sub": alice.user_id }));

    let answer = String::from_utf8(userinfo("made-up".into()).stdout).expect("utf-8");
    let (body, status) = answer.rsplit_once('\n').expect("status line");
    assert_eq!(status, "401", "{answer}");
    let body: serde_json::Value = serde_json::from_str(body).expect("json");
    assert_eq!(body["errcode"], "M_UNKNOWN_TOKEN");

    let (status, _) = server.post(&path, Some(&bob.access_token), json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
