//! Who may take part, across servers: server ACLs, knocks, invites from `createRoom`, and
//! space hierarchies spanning servers.
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    common::{TestServer, message_bodies},
    federation_helpers::*,
};

#[tokio::test(flavor = "multi_thread")]
async fn server_acls_stop_traffic_both_ways() {
    let (a, _) = TestServer::start_federated().await;
    // Named by IP literal, so an ACL can tell it from `localhost:*` (ACLs ignore ports).
    let port = crate::common::free_port();
    let b = TestServer::start_with(|config| {
        crate::common::federated(config, port);
        config.server.name = format!("127.0.0.1:{port}");
    })
    .await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let room_id = a
        .create_room(
            &alice,
            json!({ "preset": "public_chat", "room_version": "12" }),
        )
        .await;
    let joined = join_via(&b, &bob, &room_id, &a.server_name()).await;
    assert_eq!(joined.0, StatusCode::OK, "{}", joined.1);
    b.send_text(&bob, &room_id, "allowed").await;
    a.sync_until(&alice, 10, |syncs| {
        bodies_in(syncs, &room_id).contains(&"allowed".to_owned())
    })
    .await;

    let acl = a
        .put(
            &format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.server_acl/"),
            Some(&alice.access_token),
            json!({ "allow": ["*"], "deny": ["127.0.0.1"], "allow_ip_literals": true }),
        )
        .await;
    assert_eq!(acl.0, StatusCode::OK, "{}", acl.1);
    // Nothing after it reaches B (as in Synapse, the ACL event itself is not sent to the servers
    // it denies), and nothing from B is accepted any more.
    a.send_text(&alice, &room_id, "not for b").await;
    b.send_text(&bob, &room_id, "refused").await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let (_, on_b) = b
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=50"),
            Some(&bob.access_token),
        )
        .await;
    assert!(
        !message_bodies(&on_b["chunk"]).contains(&"not for b".to_owned()),
        "{on_b}"
    );
    let (_, on_a) = a
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=50"),
            Some(&alice.access_token),
        )
        .await;
    let bodies = message_bodies(&on_a["chunk"]);
    assert!(
        bodies.contains(&"allowed".to_owned()) && !bodies.contains(&"refused".to_owned()),
        "{bodies:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn knocking_on_a_remote_room_then_being_let_in() {
    let (a, _) = TestServer::start_federated().await;
    let (b, _) = TestServer::start_federated().await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let room_id = a
        .create_room(
            &alice,
            json!({
                "room_version": "11",
                "name": "Knock first",
                "initial_state": [{ "type": "m.room.join_rules", "state_key": "", "content": { "join_rule": "knock" } }],
            }),
        )
        .await;
    let knocked = b
        .post(
            &format!("/_matrix/client/v3/knock/{room_id}?via={}", a.server_name()),
            Some(&bob.access_token),
            json!({ "reason": "let me in" }),
        )
        .await;
    assert_eq!(knocked.0, StatusCode::OK, "{}", knocked.1);
    // Bob's sync lists the knock with the room's stripped state (its name).
    b.sync_until(&bob, 10, |syncs| {
        syncs.as_array().into_iter().flatten().any(|sync| {
            sync["rooms"]["knock"][&room_id]["knock_state"]["events"]
                .as_array()
                .is_some_and(|events| {
                    events
                        .iter()
                        .any(|event| event["content"]["name"] == "Knock first")
                })
        })
    })
    .await;
    // Alice sees the knock and lets Bob in.
    a.sync_until(&alice, 10, |syncs| {
        membership_of(syncs, &room_id, &bob.user_id).as_deref() == Some("knock")
    })
    .await;
    let invited = a.invite(&alice, &room_id, &bob).await;
    assert_eq!(invited.0, StatusCode::OK, "{}", invited.1);
    b.sync_until(&bob, 10, |syncs| {
        syncs
            .as_array()
            .into_iter()
            .flatten()
            .any(|sync| sync["rooms"]["invite"][&room_id].is_object())
    })
    .await;
    let joined = b.join(&bob, &room_id).await;
    assert_eq!(joined.0, StatusCode::OK, "{}", joined.1);
    a.sync_until(&alice, 10, |syncs| {
        membership_of(syncs, &room_id, &bob.user_id).as_deref() == Some("join")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn create_room_invites_remote_users_through_their_server() {
    let (a, _) = TestServer::start_federated().await;
    let (b, _) = TestServer::start_federated().await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let room_id = a
        .create_room(
            &alice,
            json!({ "preset": "trusted_private_chat", "is_direct": true, "invite": [bob.user_id] }),
        )
        .await;
    let invited = b
        .sync_until(&bob, 10, |syncs| {
            syncs
                .as_array()
                .into_iter()
                .flatten()
                .any(|sync| sync["rooms"]["invite"][&room_id].is_object())
        })
        .await;
    let invite = invited
        .as_array()
        .expect("syncs")
        .iter()
        .find_map(|sync| {
            sync["rooms"]["invite"][&room_id]["invite_state"]["events"]
                .as_array()
                .cloned()
        })
        .expect("invite state")
        .into_iter()
        .find(|event| {
            event["type"] == "m.room.member" && event["state_key"] == bob.user_id.as_str()
        })
        .expect("the invite itself");
    assert_eq!(invite["content"]["membership"], "invite");
    assert_eq!(invite["content"]["is_direct"], true);
    assert_eq!(invite["sender"], alice.user_id.as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn space_hierarchies_span_servers() {
    let (a, _) = TestServer::start_federated().await;
    let (b, _) = TestServer::start_federated().await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let space = a
        .create_room(
            &alice,
            // Version 11: the room id names Alice's server, which is how Bob's server finds it.
            json!({ "preset": "public_chat", "name": "The space", "room_version": "11", "creation_content": { "type": "m.space" } }),
        )
        .await;
    let local_child = a
        .create_room(
            &alice,
            json!({ "preset": "public_chat", "name": "Local child" }),
        )
        .await;
    let remote_child = b
        .create_room(
            &bob,
            json!({ "preset": "public_chat", "name": "Remote child" }),
        )
        .await;
    for (child, server) in [
        (&local_child, a.server_name()),
        (&remote_child, b.server_name()),
    ] {
        let linked = a
            .put(
                &format!("/_matrix/client/v3/rooms/{space}/state/m.space.child/{child}"),
                Some(&alice.access_token),
                json!({ "via": [server], "suggested": true }),
            )
            .await;
        assert_eq!(linked.0, StatusCode::OK, "{}", linked.1);
    }
    let names = |response: &Value| -> Vec<String> {
        response["rooms"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|room| room["name"].as_str().map(str::to_owned))
            .collect()
    };

    // Alice's server knows the space and one child; the other comes from Bob's server.
    let (status, seen_by_alice) = a
        .get(
            &format!("/_matrix/client/v1/rooms/{space}/hierarchy"),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{seen_by_alice}");
    let mut listed = names(&seen_by_alice);
    assert_eq!(listed.first().map(String::as_str), Some("The space"));
    listed.sort();
    assert_eq!(listed, ["Local child", "Remote child", "The space"]);
    let root = &seen_by_alice["rooms"][0];
    assert_eq!(root["room_type"], "m.space");
    assert_eq!(root["children_state"].as_array().map(Vec::len), Some(2));

    // Bob's server is not in the space: it asks the server its room id names.
    let (status, seen_by_bob) = b
        .get(
            &format!("/_matrix/client/v1/rooms/{space}/hierarchy?max_depth=1"),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{seen_by_bob}");
    let mut listed = names(&seen_by_bob);
    listed.sort();
    assert_eq!(listed, ["Local child", "Remote child", "The space"]);

    // Paging: one room at a time.
    let (_, first) = a
        .get(
            &format!("/_matrix/client/v1/rooms/{space}/hierarchy?limit=1"),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(names(&first), ["The space"]);
    let next = first["next_batch"].as_str().expect("next_batch");
    let (_, second) = a
        .get(
            &format!("/_matrix/client/v1/rooms/{space}/hierarchy?limit=1&from={next}"),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(names(&second).len(), 1);
    assert_ne!(names(&second), ["The space"]);
}

/// An invite rescinded (the inviter kicks the invitee) before the invitee's server is in the
/// room reaches the invitee: the invite leaves their sync for the `leave` section
/// [Complement TestFederationRoomsInvite "Inviter user can rescind invite over federation"].
#[tokio::test(flavor = "multi_thread")]
async fn rescinded_invites_reach_the_invitee() {
    let (a, _) = TestServer::start_federated().await;
    let (b, _) = TestServer::start_federated().await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let room_id = a
        .create_room(&alice, json!({ "preset": "private_chat" }))
        .await;
    let (status, body) = a
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/invite"),
            Some(&alice.access_token),
            json!({ "user_id": bob.user_id }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    b.sync_until(&bob, 15, |syncs| {
        syncs
            .as_array()
            .into_iter()
            .flatten()
            .any(|sync| sync["rooms"]["invite"].get(&room_id).is_some())
    })
    .await;
    let since = b.sync(&bob, None, 0).await["next_batch"]
        .as_str()
        .expect("next_batch")
        .to_owned();
    let (status, body) = a
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/kick"),
            Some(&alice.access_token),
            json!({ "user_id": bob.user_id, "reason": "changed my mind" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let mut since = since;
    loop {
        let sync = b.sync(&bob, Some(&since), 1000).await;
        if let Some(left) = sync["rooms"]["leave"].get(&room_id) {
            let events = left["timeline"]["events"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            assert!(
                events
                    .iter()
                    .any(|event| event["content"]["membership"] == "leave"
                        && event["sender"] == alice.user_id.as_str()),
                "{left}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the rescinded invite never reached bob"
        );
        since = sync["next_batch"].as_str().expect("next_batch").to_owned();
    }
    let initial = b.sync(&bob, None, 0).await;
    assert!(
        initial["rooms"]["invite"].get(&room_id).is_none(),
        "{initial}"
    );
}

/// A restricted room this server is in but where none of its members may invite: a local
/// user's join goes through another server of the room, whose member authorises it; where a
/// local member may invite, the join stays local and names them [Complement
/// TestRestrictedRoomsRemoteJoinLocalUser, TestRestrictedRoomsLocalJoinNoCreatorsUsesPowerLevels].
#[tokio::test(flavor = "multi_thread")]
async fn restricted_joins_are_authorised_where_someone_may_invite() {
    let (a, _) = TestServer::start_federated().await;
    let (b, _) = TestServer::start_federated().await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let carol = b.register("carol").await;
    let dave = b.register("dave").await;
    let allowed = a
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    let room = a
        .create_room(
            &alice,
            json!({
                "room_version": "11",
                "power_level_content_override": { "invite": 50, "users": { alice.user_id.clone(): 100 } },
                "initial_state": [{
                    "type": "m.room.join_rules", "state_key": "",
                    "content": { "join_rule": "restricted", "allow": [{ "type": "m.room_membership", "room_id": allowed }] },
                }],
            }),
        )
        .await;
    let member_event = async |server: &TestServer, user: &crate::common::TestUser, who: &str| {
        let (_, event) = server
            .get(
                &format!("/_matrix/client/v3/rooms/{room}/state/m.room.member/{who}"),
                Some(&user.access_token),
            )
            .await;
        event
    };
    for user in [&bob, &carol, &dave] {
        let joined = join_via(&b, user, &allowed, &a.server_name()).await;
        assert_eq!(joined.0, StatusCode::OK, "{}", joined.1);
    }
    // Bob's join goes to Alice's server, which authorises it.
    let joined = join_via(&b, &bob, &room, &a.server_name()).await;
    assert_eq!(joined.0, StatusCode::OK, "{}", joined.1);
    let event = member_event(&b, &bob, &bob.user_id).await;
    assert_eq!(
        event["join_authorised_via_users_server"],
        alice.user_id.as_str(),
        "{event}"
    );
    // Carol: Bob's server is in the room, but Bob may not invite: through Alice's server.
    let (status, body) = b
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/join"),
            Some(&carol.access_token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let event = member_event(&b, &carol, &carol.user_id).await;
    assert_eq!(event["membership"], "join", "{event}");
    assert_eq!(
        event["join_authorised_via_users_server"],
        alice.user_id.as_str(),
        "{event}"
    );
    // Bob may invite now: Dave's join is local and names Bob.
    let (status, body) = a
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.power_levels/"),
            Some(&alice.access_token),
            json!({ "invite": 50, "users": { alice.user_id.clone(): 100, bob.user_id.clone(): 50 } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (_, levels) = b
            .get(
                &format!("/_matrix/client/v3/rooms/{room}/state/m.room.power_levels/"),
                Some(&bob.access_token),
            )
            .await;
        if levels["users"][&bob.user_id] == 50 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "power levels never arrived: {levels}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (status, body) = b
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/join"),
            Some(&dave.access_token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let event = member_event(&b, &dave, &dave.user_id).await;
    assert_eq!(
        event["join_authorised_via_users_server"],
        bob.user_id.as_str(),
        "{event}"
    );
    // Alice's server sees both, authorised.
    a.sync_until(&alice, 15, |syncs| {
        crate::common::timeline_events(syncs, &room)
            .iter()
            .any(|event| {
                event["state_key"] == dave.user_id.as_str()
                    && event["content"]["membership"] == "join"
            })
    })
    .await;
}
