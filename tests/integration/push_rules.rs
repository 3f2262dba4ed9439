//! Push rules: the server defaults, creating, reading, enabling, changing and deleting rules,
//! their ordering and refusals, and that they decide notification counts.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{TestServer, assert_error};

#[tokio::test(flavor = "multi_thread")]
async fn push_rules_can_be_read_changed_and_decide_notifications() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let token = Some(alice.access_token.as_str());

    let (status, all) = server.get("/_matrix/client/v3/pushrules/", token).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    let overrides = all["global"]["override"]
        .as_array()
        .expect("override rules");
    assert_eq!(overrides[0]["rule_id"], ".m.rule.master");
    assert_eq!(overrides[0]["enabled"], false);
    let (_, scope) = server
        .get("/_matrix/client/v3/pushrules/global/", token)
        .await;
    // The global scope is the rule set itself (spec; ruma), not wrapped again.
    assert_eq!(scope, all["global"]);

    // A content rule, placed before another one.
    for (rule, pattern, before) in [("cats", "cats", None), ("dogs", "dogs", Some("cats"))] {
        let mut path = format!("/_matrix/client/v3/pushrules/global/content/{rule}");
        if let Some(before) = before {
            path.push_str(&format!("?before={before}"));
        }
        let (status, body) = server
            .put(
                &path,
                token,
                json!({ "pattern": pattern, "actions": ["notify"] }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (_, all) = server.get("/_matrix/client/v3/pushrules/", token).await;
    let content: Vec<&str> = all["global"]["content"]
        .as_array()
        .expect("content rules")
        .iter()
        .filter_map(|rule| rule["rule_id"].as_str())
        .collect();
    assert_eq!(&content[..2], ["dogs", "cats"]);
    let (status, rule) = server
        .get("/_matrix/client/v3/pushrules/global/content/cats", token)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (rule["pattern"].clone(), rule["default"].clone()),
        (json!("cats"), json!(false))
    );

    // Enabled and actions of a server-default rule.
    let path = "/_matrix/client/v3/pushrules/global/override/.m.rule.suppress_notices";
    let (status, _) = server
        .put(
            &format!("{path}/enabled"),
            token,
            json!({ "enabled": false }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, enabled) = server.get(&format!("{path}/enabled"), token).await;
    assert_eq!(enabled, json!({ "enabled": false }));
    let (status, _) = server
        .put(
            &format!("{path}/actions"),
            token,
            json!({ "actions": ["notify"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, actions) = server.get(&format!("{path}/actions"), token).await;
    assert_eq!(actions, json!({ "actions": ["notify"] }));

    // Refusals.
    let missing = server
        .get("/_matrix/client/v3/pushrules/global/content/nope", token)
        .await;
    assert_error(&missing, StatusCode::NOT_FOUND, "M_NOT_FOUND");
    let default = server.request(Method::DELETE, path, token, None).await;
    assert_error(&default, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
    let dotted = server
        .put(
            "/_matrix/client/v3/pushrules/global/content/.mine",
            token,
            json!({ "pattern": "x", "actions": [] }),
        )
        .await;
    assert_error(&dotted, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
    let (status, _) = server
        .request(
            Method::DELETE,
            "/_matrix/client/v3/pushrules/global/content/cats",
            token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let gone = server
        .get("/_matrix/client/v3/pushrules/global/content/cats", token)
        .await;
    assert_error(&gone, StatusCode::NOT_FOUND, "M_NOT_FOUND");

    // A room rule without actions silences the room: no notification count for a message.
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    let joined = server.join(&bob, &room_id).await;
    assert_eq!(joined.0, StatusCode::OK);
    let (status, body) = server
        .put(
            &format!("/_matrix/client/v3/pushrules/global/room/{room_id}"),
            token,
            json!({ "actions": [] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // (Not naming alice: `.m.rule.contains_user_name`, a content rule, comes before room rules.)
    server.send_text(&bob, &room_id, "hello there").await;
    let sync = server.sync(&alice, None, 0).await;
    assert_eq!(
        sync["rooms"]["join"][&room_id]["unread_notifications"]["notification_count"], 0,
        "{sync}"
    );
    let pushed = sync["account_data"]["events"]
        .as_array()
        .expect("account data")
        .iter()
        .find(|event| event["type"] == "m.push_rules")
        .expect("the rules are account data too")
        .clone();
    assert!(
        pushed["content"]["global"]["room"]
            .as_array()
            .is_some_and(|rules| rules.iter().any(|rule| rule["rule_id"] == room_id.as_str()))
    );
}
