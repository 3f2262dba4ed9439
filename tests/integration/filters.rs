//! Sync and history filters, lazy-loaded members and ignored users.

use serde_json::{Value, json};

use crate::common::{TestServer, message_bodies};

/// A filter as a query-string value.
pub(crate) fn encode(filter: &Value) -> String {
    let text = filter.to_string();
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn sync_filters_select_rooms_types_and_lazy_load_members() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let room = server
        .create_room(
            &alice,
            json!({ "preset": "public_chat", "name": "Filtered" }),
        )
        .await;
    let other = server.create_room(&alice, json!({ "name": "Other" })).await;
    server.join(&bob, &room).await;
    server.join(&carol, &room).await;
    server.send_text(&bob, &room, "from bob").await;
    server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.topic/"),
            Some(&alice.access_token),
            json!({ "topic": "t" }),
        )
        .await;
    server
        .put(
            &format!(
                "/_matrix/client/v3/user/{}/account_data/org.example.keep",
                alice.user_id
            ),
            Some(&alice.access_token),
            json!({ "a": 1 }),
        )
        .await;
    server
        .put(
            &format!(
                "/_matrix/client/v3/user/{}/account_data/org.example.drop",
                alice.user_id
            ),
            Some(&alice.access_token),
            json!({ "b": 2 }),
        )
        .await;

    let filter = json!({
        "room": {
            "rooms": [room],
            "timeline": { "types": ["m.room.message"], "limit": 1 },
            "state": { "lazy_load_members": true },
        },
        "account_data": { "not_types": ["org.example.drop"] },
    });
    let (_, sync) = server
        .get(
            &format!("/_matrix/client/v3/sync?filter={}", encode(&filter)),
            Some(&alice.access_token),
        )
        .await;
    assert!(
        sync["rooms"]["join"].get(&other).is_none(),
        "only the listed room"
    );
    let joined = &sync["rooms"]["join"][&room];
    let timeline = joined["timeline"]["events"].as_array().expect("timeline");
    assert!(
        timeline
            .iter()
            .all(|event| event["type"] == "m.room.message"),
        "{timeline:?}"
    );
    assert_eq!(message_bodies(&joined["timeline"]["events"]), ["from bob"]);
    let members: Vec<&str> = joined["state"]["events"]
        .as_array()
        .expect("state")
        .iter()
        .filter(|event| event["type"] == "m.room.member")
        .filter_map(|event| event["state_key"].as_str())
        .collect();
    let mut members = members;
    members.sort_unstable();
    assert_eq!(
        members,
        [alice.user_id.as_str(), bob.user_id.as_str()],
        "carol sent nothing, so her member event is not loaded"
    );
    assert!(
        joined["state"]["events"]
            .as_array()
            .expect("state")
            .iter()
            .any(|event| event["type"] == "m.room.topic"),
        "other state is kept"
    );
    let account_data: Vec<&str> = sync["account_data"]["events"]
        .as_array()
        .expect("account data")
        .iter()
        .filter_map(|event| event["type"].as_str())
        .collect();
    // The initial sync also carries m.push_rules, as Synapse's does.
    assert_eq!(account_data, ["org.example.keep", "m.push_rules"]);

    // The same filter stored and used by id.
    let (_, stored) = server
        .post(
            &format!("/_matrix/client/v3/user/{}/filter", alice.user_id),
            Some(&alice.access_token),
            filter,
        )
        .await;
    let filter_id = stored["filter_id"].as_str().expect("filter id");
    let (_, by_id) = server
        .get(
            &format!("/_matrix/client/v3/sync?filter={filter_id}"),
            Some(&alice.access_token),
        )
        .await;
    assert!(by_id["rooms"]["join"].get(&other).is_none());
    assert_eq!(
        message_bodies(&by_id["rooms"]["join"][&room]["timeline"]["events"]),
        ["from bob"]
    );

    let history_filter = json!({ "lazy_load_members": true, "not_senders": [alice.user_id] });
    let (_, page) = server
        .get(
            &format!(
                "/_matrix/client/v3/rooms/{room}/messages?dir=b&filter={}",
                encode(&history_filter)
            ),
            Some(&alice.access_token),
        )
        .await;
    let senders: Vec<&str> = page["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .filter_map(|event| event["sender"].as_str())
        .collect();
    assert!(
        !senders.is_empty() && !senders.contains(&alice.user_id.as_str()),
        "{senders:?}"
    );
    let loaded: Vec<&str> = page["state"]
        .as_array()
        .expect("lazy-loaded members")
        .iter()
        .filter_map(|event| event["state_key"].as_str())
        .collect();
    assert!(loaded.contains(&bob.user_id.as_str()) && loaded.contains(&carol.user_id.as_str()));
}

#[tokio::test]
async fn ignored_users_disappear_from_sync_history_and_invites() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let mallory = server.register("mallory").await;
    let room = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    server.join(&bob, &room).await;
    server.join(&mallory, &room).await;
    let ignore = json!({ "ignored_users": { mallory.user_id.clone(): {} } });
    server
        .put(
            &format!(
                "/_matrix/client/v3/user/{}/account_data/m.ignored_user_list",
                bob.user_id
            ),
            Some(&bob.access_token),
            ignore,
        )
        .await;
    server.send_text(&mallory, &room, "spam").await;
    server.send_text(&alice, &room, "hello").await;
    let spam_room = server
        .create_room(&mallory, json!({ "invite": [bob.user_id] }))
        .await;

    let sync = server.sync(&bob, None, 0).await;
    assert_eq!(
        message_bodies(&sync["rooms"]["join"][&room]["timeline"]["events"]),
        ["hello"]
    );
    assert!(
        sync["rooms"]["invite"].get(&spam_room).is_none(),
        "invites from ignored users are dropped"
    );
    let (_, history) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b"),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(message_bodies(&history["chunk"]), ["hello"]);
    let (_, alice_history) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b"),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(
        message_bodies(&alice_history["chunk"]),
        ["hello", "spam"],
        "others still see everything"
    );
}

/// With lazy-loaded members, an incremental sync brings the member event of someone who
/// speaks for the first time since the client's last sync, whatever the client had before (as
/// Synapse: "the only membership state included in an incremental sync is for senders in the
/// timeline"), so the client can show their name.
#[tokio::test]
async fn incremental_lazy_syncs_bring_new_senders_members() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let room = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    for user in [&bob, &carol] {
        assert_eq!(server.join(user, &room).await.0, reqwest::StatusCode::OK);
    }
    server.send_text(&bob, &room, "bob speaks first").await;
    let filter = encode(&json!({ "room": { "state": { "lazy_load_members": true } } }));
    let (_, first) = server
        .get(
            &format!("/_matrix/client/v3/sync?filter={filter}"),
            Some(&alice.access_token),
        )
        .await;
    let members_of = |sync: &Value| -> Vec<String> {
        let mut members: Vec<String> = sync["rooms"]["join"][&room]["state"]["events"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|event| event["type"] == "m.room.member")
            .filter_map(|event| event["state_key"].as_str().map(str::to_owned))
            .collect();
        members.sort_unstable();
        members
    };
    assert!(
        !members_of(&first).contains(&carol.user_id),
        "carol said nothing yet: {first}"
    );
    let since = first["next_batch"].as_str().expect("next_batch").to_owned();

    server.send_text(&carol, &room, "carol at last").await;
    let (_, next) = server
        .get(
            &format!("/_matrix/client/v3/sync?filter={filter}&since={since}&timeout=0"),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(
        message_bodies(&next["rooms"]["join"][&room]["timeline"]["events"]),
        ["carol at last"]
    );
    assert!(
        members_of(&next).contains(&carol.user_id),
        "carol's member event comes with her first message: {next}"
    );
    let carol_member = next["rooms"]["join"][&room]["state"]["events"]
        .as_array()
        .expect("state")
        .iter()
        .find(|event| event["state_key"] == carol.user_id.as_str())
        .expect("carol's member event")
        .clone();
    assert_eq!(carol_member["content"]["membership"], "join");

    // Carol again: this device has her member event, so it is not sent twice (the spec's
    // `include_redundant_members: false`, the default) unless the filter asks for it.
    let since = next["next_batch"].as_str().expect("next_batch").to_owned();
    server.send_text(&carol, &room, "carol again").await;
    let (_, again) = server
        .get(
            &format!("/_matrix/client/v3/sync?filter={filter}&since={since}&timeout=0"),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(
        message_bodies(&again["rooms"]["join"][&room]["timeline"]["events"]),
        ["carol again"]
    );
    assert!(members_of(&again).is_empty(), "{again}");
    let redundant = encode(&json!({ "room": { "state": {
        "lazy_load_members": true, "include_redundant_members": true } } }));
    let (_, repeated) = server
        .get(
            &format!("/_matrix/client/v3/sync?filter={redundant}&since={since}&timeout=0"),
            Some(&alice.access_token),
        )
        .await;
    assert!(members_of(&repeated).contains(&carol.user_id), "{repeated}");
    // A new initial sync starts from nothing: the senders' members come again.
    let one = encode(&json!({ "room": { "timeline": { "limit": 1 },
                                        "state": { "lazy_load_members": true } } }));
    let (_, fresh) = server
        .get(
            &format!("/_matrix/client/v3/sync?filter={one}"),
            Some(&alice.access_token),
        )
        .await;
    assert!(members_of(&fresh).contains(&carol.user_id), "{fresh}");
}
