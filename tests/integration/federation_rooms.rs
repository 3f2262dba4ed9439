//! Rooms shared between Myelin servers over real federation on loopback (TLS, signed requests,
//! key fetching, joins, transactions, EDUs).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    common::{TestServer, TestUser, message_bodies, timeline_events},
    federation_helpers::*,
};

#[tokio::test(flavor = "multi_thread")]
async fn a_remote_user_joins_and_messages_cross_both_ways() {
    let (a, _) = TestServer::start_federated().await;
    let (b, _) = TestServer::start_federated().await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let room_id = a
        .create_room(&alice, json!({ "preset": "public_chat", "name": "Across" }))
        .await;
    a.send_text(&alice, &room_id, "before bob").await;

    let joined = join_via(&b, &bob, &room_id, &a.server_name()).await;
    assert_eq!(joined.0, StatusCode::OK, "{}", joined.1);
    assert_eq!(joined.1["room_id"], room_id.as_str());

    // Bob's server knows the room now: its name, and both members.
    let (status, members) = b
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/joined_members"),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{members}");
    let joined = members["joined"].as_object().expect("joined");
    assert!(
        joined.contains_key(&alice.user_id) && joined.contains_key(&bob.user_id),
        "{members}"
    );
    let (status, name) = b
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.name/"),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(
        (status, name["name"].clone()),
        (StatusCode::OK, json!("Across"))
    );

    // History from before the join is fetched from Alice's server when Bob pages back.
    let (status, history) = b
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=50"),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let old = message_bodies(&history["chunk"]);
    assert_eq!(old, vec!["before bob".to_owned()], "{history}");
    let kinds: Vec<&str> = history["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .filter_map(|event| event["type"].as_str())
        .collect();
    assert_eq!(
        kinds.last(),
        Some(&"m.room.create"),
        "back to the start: {kinds:?}"
    );

    // Alice's server saw the join.
    a.sync_until(&alice, 10, |syncs| {
        timeline_events(syncs, &room_id).iter().any(|event| {
            event["type"] == "m.room.member"
                && event["state_key"] == bob.user_id.as_str()
                && event["content"]["membership"] == "join"
        })
    })
    .await;

    a.send_text(&alice, &room_id, "hello bob").await;
    let seen = b
        .sync_until(&bob, 10, |syncs| {
            bodies_in(syncs, &room_id).contains(&"hello bob".to_owned())
        })
        .await;
    let from_alice = timeline_events(&seen, &room_id)
        .into_iter()
        .find(|event| event["content"]["body"] == "hello bob")
        .expect("message");
    assert_eq!(from_alice["sender"], alice.user_id.as_str());

    b.send_text(&bob, &room_id, "hello alice").await;
    a.sync_until(&alice, 10, |syncs| {
        bodies_in(syncs, &room_id).contains(&"hello alice".to_owned())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn three_servers_invite_join_talk_type_read_leave_and_ban() {
    let (a, _) = TestServer::start_federated().await;
    let (b, _) = TestServer::start_federated().await;
    let (c, _) = TestServer::start_federated().await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let carol = c.register("carol").await;
    let room_id = a
        .create_room(
            &alice,
            json!({ "preset": "private_chat", "room_version": "11" }),
        )
        .await;

    // Invites cross to each server; the invitees see them in their sync and join.
    for (server, user) in [(&b, &bob), (&c, &carol)] {
        let invited = a.invite(&alice, &room_id, user).await;
        assert_eq!(invited.0, StatusCode::OK, "{}", invited.1);
        let syncs = server
            .sync_until(user, 10, |syncs| {
                syncs.as_array().into_iter().flatten().any(|sync| {
                    sync["rooms"]["invite"][&room_id]["invite_state"]["events"]
                        .as_array()
                        .is_some_and(|events| {
                            events.iter().any(|event| {
                                event["type"] == "m.room.member"
                                    && event["state_key"] == user.user_id.as_str()
                                    && event["content"]["membership"] == "invite"
                            })
                        })
                })
            })
            .await;
        assert!(!syncs.as_array().expect("syncs").is_empty());
        // The invitee joins by room id alone: the inviter's server is known from the invite.
        let joined = server.join(user, &room_id).await;
        assert_eq!(joined.0, StatusCode::OK, "{}", joined.1);
    }

    // Everyone sees everyone joined, on every server.
    for (server, user) in [(&a, &alice), (&b, &bob), (&c, &carol)] {
        let view = server
            .sync_until(user, 10, |syncs| {
                [&alice, &bob, &carol].iter().all(|member| {
                    membership_of(syncs, &room_id, &member.user_id).as_deref() == Some("join")
                })
            })
            .await;
        assert!(view.is_array());
    }

    // A message from C reaches A and B.
    c.send_text(&carol, &room_id, "from carol").await;
    for (server, user) in [(&a, &alice), (&b, &bob)] {
        server
            .sync_until(user, 10, |syncs| {
                bodies_in(syncs, &room_id).contains(&"from carol".to_owned())
            })
            .await;
    }

    // Typing on B shows on A and C.
    let typing = b
        .put(
            &format!("/_matrix/client/v3/rooms/{room_id}/typing/{}", bob.user_id),
            Some(&bob.access_token),
            json!({ "typing": true, "timeout": 10000 }),
        )
        .await;
    assert_eq!(typing.0, StatusCode::OK);
    for (server, user) in [(&a, &alice), (&c, &carol)] {
        server
            .sync_until(user, 10, |syncs| {
                ephemeral_events(syncs, &room_id, "m.typing")
                    .iter()
                    .any(|event| {
                        event["content"]["user_ids"]
                            .as_array()
                            .is_some_and(|ids| ids.contains(&json!(bob.user_id)))
                    })
            })
            .await;
    }

    // Presence set on C reaches A.
    let presence = c
        .put(
            &format!("/_matrix/client/v3/presence/{}/status", carol.user_id),
            Some(&carol.access_token),
            json!({ "presence": "online", "status_msg": "across servers" }),
        )
        .await;
    assert_eq!(presence.0, StatusCode::OK, "{}", presence.1);
    a.sync_until(&alice, 15, |syncs| {
        syncs.as_array().into_iter().flatten().any(|sync| {
            sync["presence"]["events"].as_array().is_some_and(|events| {
                events.iter().any(|event| {
                    event["sender"] == carol.user_id.as_str()
                        && event["content"]["status_msg"] == "across servers"
                })
            })
        })
    })
    .await;

    // A read receipt from A reaches B.
    let message = a.send_text(&alice, &room_id, "read me").await;
    let receipt = a
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/receipt/m.read/{message}"),
            Some(&alice.access_token),
            json!({}),
        )
        .await;
    assert_eq!(receipt.0, StatusCode::OK, "{}", receipt.1);
    b.sync_until(&bob, 10, |syncs| {
        ephemeral_events(syncs, &room_id, "m.receipt")
            .iter()
            .any(|event| event["content"][&message]["m.read"][&alice.user_id]["ts"].is_u64())
    })
    .await;

    // Carol leaves; Alice bans Bob. Both changes reach every server.
    let left = c
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/leave"),
            Some(&carol.access_token),
            json!({}),
        )
        .await;
    assert_eq!(left.0, StatusCode::OK, "{}", left.1);
    a.sync_until(&alice, 10, |syncs| {
        membership_of(syncs, &room_id, &carol.user_id).as_deref() == Some("leave")
    })
    .await;
    let banned = a
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/ban"),
            Some(&alice.access_token),
            json!({ "user_id": bob.user_id, "reason": "test" }),
        )
        .await;
    assert_eq!(banned.0, StatusCode::OK, "{}", banned.1);
    let seen_by_bob = b
        .sync_until(&bob, 10, |syncs| {
            syncs
                .as_array()
                .into_iter()
                .flatten()
                .any(|sync| sync["rooms"]["leave"][&room_id].is_object())
        })
        .await;
    let left_rooms: Vec<&Value> = seen_by_bob
        .as_array()
        .expect("syncs")
        .iter()
        .filter_map(|sync| sync["rooms"]["leave"].get(&room_id))
        .collect();
    let ban = left_rooms
        .iter()
        .flat_map(|room| {
            room["timeline"]["events"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .find(|event| {
            event["type"] == "m.room.member" && event["state_key"] == bob.user_id.as_str()
        });
    assert_eq!(
        ban.expect("the ban in bob's timeline")["content"]["membership"],
        "ban"
    );

    // A banned user's server cannot send into the room for him any more.
    let refused = b.send_text_result(&bob, &room_id, "still here?").await;
    assert_eq!(refused.0, StatusCode::FORBIDDEN, "{}", refused.1);
}

/// Three servers in one public room created on the first; returns the room id.
async fn shared_room(servers: [(&TestServer, &TestUser); 3], version: &str) -> String {
    let [(a, alice), rest @ ..] = servers;
    let room_id = a
        .create_room(
            alice,
            json!({ "preset": "public_chat", "room_version": version }),
        )
        .await;
    for (server, user) in rest {
        let joined = join_via(server, user, &room_id, &a.server_name()).await;
        assert_eq!(joined.0, StatusCode::OK, "{}", joined.1);
    }
    room_id
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_was_down_catches_up_and_queues_survive_restarts() {
    let (mut a, a_port) = TestServer::start_federated().await;
    let (b, _) = TestServer::start_federated().await;
    let (mut c, c_port) = TestServer::start_federated().await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let carol = c.register("carol").await;
    let room_id = shared_room([(&a, &alice), (&b, &bob), (&c, &carol)], "12").await;
    // Carol's server has seen Bob join before it goes away.
    c.sync_until(&carol, 10, |syncs| {
        membership_of(syncs, &room_id, &bob.user_id).as_deref() == Some("join")
    })
    .await;

    c.stop().await;
    a.send_text(&alice, &room_id, "while carol was away 1")
        .await;
    b.send_text(&bob, &room_id, "while carol was away 2").await;
    // Bob's server still hears Alice's server.
    b.sync_until(&bob, 10, |syncs| {
        bodies_in(syncs, &room_id).contains(&"while carol was away 1".to_owned())
    })
    .await;
    // Alice's server counts what waits for Carol's server.
    let waiting = queue_depth(&a).await;
    assert!(waiting >= 1, "queued for the stopped server: {waiting}");
    // Alice's server restarts with its queue for Carol's server pending.
    a.restart(|config| crate::common::federated(config, a_port))
        .await;
    c.restart(|config| crate::common::federated(config, c_port))
        .await;

    let seen = c
        .sync_until(&carol, 40, |syncs| {
            let bodies = bodies_in(syncs, &room_id);
            bodies.contains(&"while carol was away 1".to_owned())
                && bodies.contains(&"while carol was away 2".to_owned())
        })
        .await;
    assert!(seen.is_array());

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while queue_depth(&a).await > 0 {
        assert!(std::time::Instant::now() < deadline, "the queue drains");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    // And Carol's server talks again: her message reaches both others.
    c.send_text(&carol, &room_id, "back again").await;
    for (server, user) in [(&a, &alice), (&b, &bob)] {
        server
            .sync_until(user, 20, |syncs| {
                bodies_in(syncs, &room_id).contains(&"back again".to_owned())
            })
            .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_power_level_changes_resolve_to_the_same_state_everywhere() {
    let (a, _) = TestServer::start_federated().await;
    let (b, _) = TestServer::start_federated().await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let room_id = a
        .create_room(
            &alice,
            json!({ "preset": "public_chat", "room_version": "11" }),
        )
        .await;
    let joined = join_via(&b, &bob, &room_id, &a.server_name()).await;
    assert_eq!(joined.0, StatusCode::OK, "{}", joined.1);
    let path = format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.power_levels/");
    let (_, mut levels) = a.get(&path, Some(&alice.access_token)).await;
    levels["users"][&bob.user_id] = json!(100);
    let promoted = a
        .put(&path, Some(&alice.access_token), levels.clone())
        .await;
    assert_eq!(promoted.0, StatusCode::OK, "{}", promoted.1);
    b.sync_until(&bob, 10, |syncs| {
        timeline_events(syncs, &room_id).iter().any(|event| {
            event["type"] == "m.room.power_levels" && event["content"]["users"][&bob.user_id] == 100
        })
    })
    .await;

    // Both admins change the power levels at once, each on their own server.
    let mut by_alice = levels.clone();
    by_alice["events_default"] = json!(10);
    by_alice["users"]["@someone:elsewhere.example"] = json!(50);
    let mut by_bob = levels.clone();
    by_bob["events_default"] = json!(20);
    by_bob["state_default"] = json!(60);
    let (first, second) = tokio::join!(
        a.put(&path, Some(&alice.access_token), by_alice),
        b.put(&path, Some(&bob.access_token), by_bob),
    );
    assert_eq!(first.0, StatusCode::OK, "{}", first.1);
    assert_eq!(second.0, StatusCode::OK, "{}", second.1);

    // Each side sends again, which merges the forks; then both agree.
    a.send_text(&alice, &room_id, "merge from a").await;
    b.send_text(&bob, &room_id, "merge from b").await;
    for (server, user, other) in [(&a, &alice, "merge from b"), (&b, &bob, "merge from a")] {
        server
            .sync_until(user, 15, |syncs| {
                bodies_in(syncs, &room_id).contains(&other.to_owned())
            })
            .await;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (_, on_a) = a.get(&path, Some(&alice.access_token)).await;
        let (_, on_b) = b.get(&path, Some(&bob.access_token)).await;
        let (_, state_a) = a
            .get(
                &format!("/_matrix/client/v3/rooms/{room_id}/state"),
                Some(&alice.access_token),
            )
            .await;
        let (_, state_b) = b
            .get(
                &format!("/_matrix/client/v3/rooms/{room_id}/state"),
                Some(&bob.access_token),
            )
            .await;
        let ids = |state: &Value| {
            let mut ids: Vec<String> = state
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|event| event["event_id"].as_str().map(str::to_owned))
                .collect();
            ids.sort();
            ids
        };
        if on_a == on_b && ids(&state_a) == ids(&state_b) {
            assert!(
                on_a["events_default"] == 10 || on_a["events_default"] == 20,
                "one of the two changes won: {on_a}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the servers disagree:\nA {on_a}\nB {on_b}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// A moderator may redact an event this server never saw (it may exist elsewhere): the
/// redaction is made and reaches the other servers; someone without the power to redact gets
/// 404 for it [Complement TestFederationRedactSendsWithoutEvent].
#[tokio::test(flavor = "multi_thread")]
async fn redactions_of_unseen_events_are_sent() {
    let (a, b, alice, bob, room_id) = setup().await;
    let unseen = format!("$neverseen:{}", b.server_name());
    let (status, body) = a
        .put(
            &format!("/_matrix/client/v3/rooms/{room_id}/redact/{unseen}/r1"),
            Some(&alice.access_token),
            json!({ "reason": "reasons..." }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let redaction = body["event_id"].as_str().expect("event_id").to_owned();
    b.sync_until(&bob, 15, |syncs| {
        timeline_events(syncs, &room_id).iter().any(|event| {
            event["event_id"] == redaction.as_str()
                && event["type"] == "m.room.redaction"
                && (event["redacts"] == unseen.as_str()
                    || event["content"]["redacts"] == unseen.as_str())
        })
    })
    .await;
    let (status, body) = b
        .put(
            &format!("/_matrix/client/v3/rooms/{room_id}/redact/{unseen}/r2"),
            Some(&bob.access_token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["errcode"], "M_NOT_FOUND");
}

/// Members of two servers join, then leave, at the same moment, several times: each server
/// places the other's event on a fork and resolves it, and both agree on the members and the
/// whole state (the resolution once lost the event being placed, and with it a member).
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_joins_and_leaves_on_two_servers_agree() {
    let (a, b, alice, bob, room_id) = setup().await;
    let members = async |server: &TestServer, user: &TestUser| -> Vec<String> {
        let (_, body) = server
            .get(
                &format!("/_matrix/client/v3/rooms/{room_id}/joined_members"),
                Some(&user.access_token),
            )
            .await;
        let mut members: Vec<String> = body["joined"]
            .as_object()
            .map(|joined| joined.keys().cloned().collect())
            .unwrap_or_default();
        members.sort();
        members
    };
    let agree = async |expected: Vec<String>| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let (on_a, on_b) = (members(&a, &alice).await, members(&b, &bob).await);
            if on_a == expected && on_b == expected {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "members differ: {on_a:?} on A, {on_b:?} on B, {expected:?} expected"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };
    for round in 0..3 {
        let carol = a.register(&format!("carol{round}")).await;
        let dave = b.register(&format!("dave{round}")).await;
        let (joined_a, joined_b) = tokio::join!(a.join(&carol, &room_id), b.join(&dave, &room_id));
        assert_eq!(joined_a.0, StatusCode::OK, "{}", joined_a.1);
        assert_eq!(joined_b.0, StatusCode::OK, "{}", joined_b.1);
        let mut everyone = vec![
            alice.user_id.clone(),
            bob.user_id.clone(),
            carol.user_id.clone(),
            dave.user_id.clone(),
        ];
        everyone.sort();
        agree(everyone).await;
        let leave = format!("/_matrix/client/v3/rooms/{room_id}/leave");
        let (left_a, left_b) = tokio::join!(
            a.post(&leave, Some(&carol.access_token), json!({})),
            b.post(&leave, Some(&dave.access_token), json!({}))
        );
        assert_eq!(left_a.0, StatusCode::OK, "{}", left_a.1);
        assert_eq!(left_b.0, StatusCode::OK, "{}", left_b.1);
        let mut staying = vec![alice.user_id.clone(), bob.user_id.clone()];
        staying.sort();
        agree(staying).await;
    }
    let state_ids = async |server: &TestServer, user: &TestUser| -> Vec<String> {
        let (_, state) = server
            .get(
                &format!("/_matrix/client/v3/rooms/{room_id}/state"),
                Some(&user.access_token),
            )
            .await;
        let mut ids: Vec<String> = state
            .as_array()
            .expect("state")
            .iter()
            .filter_map(|event| event["event_id"].as_str().map(str::to_owned))
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(state_ids(&a, &alice).await, state_ids(&b, &bob).await);
}
