//! Reports to administrators: events the reporter can see, rooms the server knows, users.

use myelin_core::rooms::ReportTarget;
use reqwest::StatusCode;
use serde_json::json;

use crate::common::{TestServer, assert_error};

#[tokio::test(flavor = "multi_thread")]
async fn reports_of_events_rooms_and_users_are_kept_for_administrators() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let room = server
        .create_room(&alice, json!({ "invite": [bob.user_id] }))
        .await;
    assert_eq!(server.join(&bob, &room).await.0, StatusCode::OK);
    let rude = server.send_text(&bob, &room, "something rude").await;
    let private = server.create_room(&carol, json!({})).await;
    let hidden = server.send_text(&carol, &private, "not for alice").await;

    let (status, answer) = server
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/report/{rude}"),
            Some(&alice.access_token),
            json!({ "reason": "rude", "score": -100 }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer, json!({}));
    // Events the reporter cannot see, or that do not exist, are not found.
    for (room_id, event_id) in [(&private, hidden.as_str()), (&room, "$missing")] {
        let result = server
            .post(
                &format!("/_matrix/client/v3/rooms/{room_id}/report/{event_id}"),
                Some(&alice.access_token),
                json!({ "reason": "?" }),
            )
            .await;
        assert_error(&result, StatusCode::NOT_FOUND, "M_NOT_FOUND");
    }
    let (status, _) = server
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/report"),
            Some(&alice.access_token),
            json!({ "reason": "the whole room" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let unknown_room = server
        .post(
            "/_matrix/client/v3/rooms/!nowhere:localhost/report",
            Some(&alice.access_token),
            json!({ "reason": "?" }),
        )
        .await;
    assert_error(&unknown_room, StatusCode::NOT_FOUND, "M_NOT_FOUND");
    let (status, _) = server
        .post(
            &format!("/_matrix/client/v3/users/{}/report", bob.user_id),
            Some(&alice.access_token),
            json!({ "reason": "spammer" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let too_long = server
        .post(
            &format!("/_matrix/client/v3/users/{}/report", bob.user_id),
            Some(&alice.access_token),
            json!({ "reason": "x".repeat(20_000) }),
        )
        .await;
    assert_error(&too_long, StatusCode::PAYLOAD_TOO_LARGE, "M_TOO_LARGE");

    let reports = server.server().services().rooms.reports().expect("reports");
    let targets: Vec<&ReportTarget> = reports.iter().map(|report| &report.target).collect();
    assert_eq!(reports.len(), 3, "{reports:?}");
    assert!(
        matches!(targets[0], ReportTarget::Event { event_id, .. } if event_id.as_str() == rude)
    );
    assert!(matches!(targets[1], ReportTarget::Room { room_id } if room_id.as_str() == room));
    assert!(
        matches!(targets[2], ReportTarget::User { user_id } if user_id.as_str() == bob.user_id)
    );
    assert!(
        reports
            .iter()
            .all(|report| report.reporter.as_str() == alice.user_id)
    );
    assert_eq!(reports[0].reason.as_deref(), Some("rude"));
}
