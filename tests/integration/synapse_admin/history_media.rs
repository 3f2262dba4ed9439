//! A room's history purged and read by administrators, and media: listed, quarantined, protected, deleted.

use super::*;

/// A user's uploads listed, quarantined (served to nobody), protected, and deleted one by one,
/// by date, or all at once.
#[tokio::test(flavor = "multi_thread")]
async fn media_is_listed_quarantined_protected_and_deleted() {
    use crate::media::{download, upload};
    let (server, admin) = server_with_admin().await;
    let token = Some(admin.access_token.as_str());
    let alice = server.register("alice").await;
    let mut ids = Vec::new();
    for (bytes, name) in [
        (b"first file".to_vec(), "one.txt"),
        (b"second file".to_vec(), "two.txt"),
    ] {
        let (status, uploaded) = upload(&server, &alice, bytes, "text/plain", Some(name)).await;
        assert_eq!(status, StatusCode::OK, "{uploaded}");
        let uri = uploaded["content_uri"].as_str().expect("uri");
        ids.push(uri.rsplit('/').next().expect("id").to_owned());
    }
    let (status, listing) = server
        .get("/_synapse/admin/v1/users/@alice:localhost/media", token)
        .await;
    assert_eq!(status, StatusCode::OK, "{listing}");
    assert_eq!(listing["total"], 2);
    let (_, info) = server
        .get(
            &format!("/_synapse/admin/v1/media/localhost/{}", ids[0]),
            token,
        )
        .await;
    let info = &info["media_info"];
    assert_eq!(info["media_id"], ids[0].as_str());
    assert_eq!(info["media_length"], 10);
    assert_eq!(info["media_type"], "text/plain");
    assert_eq!(info["upload_name"], "one.txt");
    assert_eq!(info["user_id"], "@alice:localhost");
    assert_eq!(info["quarantined_by"], JsonNull);

    let path = |id: &str| format!("/_matrix/client/v1/media/download/localhost/{id}");
    let fetch = |id: String| {
        let server = &server;
        let token = alice.access_token.clone();
        async move {
            download(server, Some(&token), &path(&id), None)
                .await
                .status()
        }
    };
    let (status, _) = server
        .post(
            &format!("/_synapse/admin/v1/media/quarantine/localhost/{}", ids[0]),
            token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetch(ids[0].clone()).await, StatusCode::NOT_FOUND);
    let (_, info) = server
        .get(
            &format!("/_synapse/admin/v1/media/localhost/{}", ids[0]),
            token,
        )
        .await;
    assert_eq!(info["media_info"]["quarantined_by"], admin.user_id.as_str());
    server
        .post(
            &format!("/_synapse/admin/v1/media/unquarantine/localhost/{}", ids[0]),
            token,
            json!({}),
        )
        .await;
    assert_eq!(fetch(ids[0].clone()).await, StatusCode::OK);

    // Protected media cannot be quarantined, and survives deletion by date.
    server
        .post(
            &format!("/_synapse/admin/v1/media/protect/{}", ids[1]),
            token,
            json!({}),
        )
        .await;
    let refused = server
        .post(
            &format!("/_synapse/admin/v1/media/quarantine/localhost/{}", ids[1]),
            token,
            json!({}),
        )
        .await;
    assert_error(&refused, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
    // An avatar survives deletion by date unless `keep_profiles=false`.
    let (_, avatar) = upload(&server, &alice, b"a face".to_vec(), "image/png", None).await;
    let avatar_uri = avatar["content_uri"].as_str().expect("uri").to_owned();
    let avatar_id = avatar_uri.rsplit('/').next().expect("id").to_owned();
    let (status, _) = server
        .put(
            "/_matrix/client/v3/profile/@alice:localhost/avatar_url",
            Some(&alice.access_token),
            json!({ "avatar_url": avatar_uri }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let later = myelin_core::clock::now_ms() + 60_000;
    let (status, purged) = server
        .post(
            &format!("/_synapse/admin/v1/media/localhost/delete?before_ts={later}"),
            token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{purged}");
    assert_eq!(
        purged,
        json!({ "deleted_media": [ids[0].clone()], "total": 1 })
    );
    assert_eq!(fetch(ids[0].clone()).await, StatusCode::NOT_FOUND);
    assert_eq!(fetch(ids[1].clone()).await, StatusCode::OK);
    assert_eq!(fetch(avatar_id.clone()).await, StatusCode::OK);
    let (status, purged) = server
        .post(
            &format!("/_synapse/admin/v1/media/delete?before_ts={later}&keep_profiles=false"),
            token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{purged}");
    assert_eq!(
        purged,
        json!({ "deleted_media": [avatar_id.clone()], "total": 1 })
    );
    assert_eq!(fetch(ids[1].clone()).await, StatusCode::OK);
    let (_, cache) = server
        .post(
            &format!("/_synapse/admin/v1/purge_media_cache?before_ts={later}"),
            token,
            json!({}),
        )
        .await;
    assert_eq!(cache, json!({ "deleted": 0 }));

    let (status, gone) = server
        .request(
            reqwest::Method::DELETE,
            "/_synapse/admin/v1/users/@alice:localhost/media",
            token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{gone}");
    assert_eq!(gone["total"], 1);
    assert_eq!(fetch(ids[1].clone()).await, StatusCode::NOT_FOUND);
    let (_, empty) = server
        .get("/_synapse/admin/v1/users/@alice:localhost/media", token)
        .await;
    assert_eq!(empty["total"], 0);
}

/// A room's old history is purged: messages before the point go (local ones only when asked),
/// state stays, the newest event always stays; the status is kept for the purge id.
#[tokio::test(flavor = "multi_thread")]
async fn room_history_is_purged_up_to_a_point() {
    let (server, admin) = server_with_admin().await;
    let token = Some(admin.access_token.as_str());
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    assert_eq!(server.join(&bob, &room_id).await.0, StatusCode::OK);
    let other_room = server.create_room(&alice, json!({})).await;
    let unread = |sync: &Value| {
        sync["rooms"]["join"][room_id.as_str()]["unread_notifications"]["notification_count"]
            .as_u64()
    };
    let mut sent = Vec::new();
    for text in ["m1", "m2", "m3"] {
        sent.push(server.send_text(&alice, &room_id, text).await);
    }
    let (status, _) = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.topic/"),
            Some(&alice.access_token),
            json!({ "topic": "kept" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let m4 = server.send_text(&alice, &room_id, "m4").await;
    server.send_text(&alice, &room_id, "m5").await;
    let path = format!("/_synapse/admin/v1/purge_history/{room_id}");

    // Local events stay unless asked for.
    let (status, kept) = server
        .post(&path, token, json!({ "purge_up_to_event_id": m4 }))
        .await;
    assert_eq!(status, StatusCode::OK, "{kept}");
    assert!(reads_text(&server, &alice, &room_id, "m1").await);
    let (status, purged) = server
        .post(
            &format!("{path}/{m4}"),
            token,
            json!({ "delete_local_events": true }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{purged}");
    let purge_id = purged["purge_id"].as_str().expect("a purge id");
    let (status, done) = server
        .get(
            &format!("/_synapse/admin/v1/purge_history_status/{purge_id}"),
            token,
        )
        .await;
    assert_eq!(
        (status, done),
        (StatusCode::OK, json!({ "status": "complete" }))
    );
    for gone in ["m1", "m2", "m3"] {
        assert!(!reads_text(&server, &alice, &room_id, gone).await, "{gone}");
    }
    for left in ["m4", "m5"] {
        assert!(reads_text(&server, &alice, &room_id, left).await, "{left}");
    }
    // Bob was told of five messages; three are gone, and so are their notifications.
    assert_eq!(unread(&server.sync(&bob, None, 0).await), Some(2));
    let lost = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/event/{}", sent[0]),
            Some(&alice.access_token),
        )
        .await;
    assert_error(&lost, StatusCode::NOT_FOUND, "M_NOT_FOUND");
    let (_, topic) = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.topic/"),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(topic["topic"], "kept");

    // By time: everything older goes but the newest event; the room goes on.
    let (status, _) = server
        .post(
            &path,
            token,
            json!({ "purge_up_to_ts": 4_102_444_800_000u64, "delete_local_events": true }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!reads_text(&server, &alice, &room_id, "m4").await);
    assert!(reads_text(&server, &alice, &room_id, "m5").await);
    server.send_text(&alice, &room_id, "m6").await;
    assert!(reads_text(&server, &alice, &room_id, "m6").await);
    let sync = server.sync(&alice, None, 0).await;
    let bodies = crate::common::message_bodies(
        &sync["rooms"]["join"][room_id.as_str()]["timeline"]["events"],
    );
    assert_eq!(bodies, ["m5", "m6"], "{sync}");

    // Refused: no point, an event of another room, an unknown purge id.
    let none = server.post(&path, token, json!({})).await;
    assert_error(&none, StatusCode::BAD_REQUEST, "M_MISSING_PARAM");
    let elsewhere = server.send_text(&alice, &other_room, "elsewhere").await;
    let wrong = server
        .post(&path, token, json!({ "purge_up_to_event_id": elsewhere }))
        .await;
    assert_error(&wrong, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
    let unknown = server
        .get("/_synapse/admin/v1/purge_history_status/nope", token)
        .await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "M_NOT_FOUND");

    // The purges are the administrator's tasks, newest first.
    let (status, tasks) = server
        .get(
            &format!(
                "/_synapse/admin/v1/scheduled_tasks?action_name=purge_history&resource_id={room_id}"
            ),
            token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tasks}");
    let tasks = tasks["scheduled_tasks"].as_array().expect("tasks").clone();
    assert_eq!(tasks.len(), 3, "{tasks:?}");
    assert_eq!(tasks[1]["id"], purge_id);
    assert!(
        tasks
            .iter()
            .all(|task| task["status"] == "complete" && task["action"] == "purge_history")
    );
    assert_eq!(tasks[1]["result"]["purged_events"], 3, "{tasks:?}");
}

/// A room an administrator is not in: its history paged and read around an event, its media
/// listed and quarantined, and its size among the largest rooms.
#[tokio::test(flavor = "multi_thread")]
async fn room_history_media_and_sizes_for_administrators() {
    use crate::media::{download, upload};
    let (server, admin) = server_with_admin().await;
    let token = Some(admin.access_token.as_str());
    let alice = server.register("alice").await;
    let room_id = server.create_room(&alice, json!({})).await;
    let small_room = server.create_room(&alice, json!({})).await;
    let mut sent = Vec::new();
    for text in ["m1", "m2", "m3", "m4", "m5"] {
        sent.push(server.send_text(&alice, &room_id, text).await);
    }
    let mut uris = Vec::new();
    for bytes in [b"the image".to_vec(), b"its thumbnail".to_vec()] {
        let (status, uploaded) = upload(&server, &alice, bytes, "image/png", None).await;
        assert_eq!(status, StatusCode::OK, "{uploaded}");
        uris.push(uploaded["content_uri"].as_str().expect("uri").to_owned());
    }
    let (status, _) = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room_id}/send/m.room.message/img"),
            Some(&alice.access_token),
            json!({
                "msgtype": "m.image", "body": "picture", "url": uris[0],
                "info": { "thumbnail_url": uris[1] },
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room_id}/send/m.room.message/remote"),
            Some(&alice.access_token),
            json!({ "msgtype": "m.file", "body": "elsewhere", "url": "mxc://elsewhere.example/abc" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Paged back, three at a time, only messages.
    let filter = "%7B%22types%22%3A%5B%22m.room.message%22%5D%7D";
    let path = format!("/_synapse/admin/v1/rooms/{room_id}/messages?dir=b&limit=3&filter={filter}");
    let (status, page) = server.get(&path, token).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(
        crate::common::message_bodies(&page["chunk"]),
        ["elsewhere", "picture", "m5"]
    );
    let end = page["end"].as_str().expect("more to come");
    let (_, next) = server.get(&format!("{path}&from={end}"), token).await;
    assert_eq!(
        crate::common::message_bodies(&next["chunk"]),
        ["m4", "m3", "m2"]
    );
    let (_, forward) = server
        .get(
            &format!("/_synapse/admin/v1/rooms/{room_id}/messages?limit=2&filter={filter}"),
            token,
        )
        .await;
    assert_eq!(
        crate::common::message_bodies(&forward["chunk"]),
        ["m1", "m2"]
    );
    // Around m3.
    let (status, context) = server
        .get(
            &format!(
                "/_synapse/admin/v1/rooms/{room_id}/context/{}?limit=2",
                sent[2]
            ),
            token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{context}");
    assert_eq!(context["event"]["content"]["body"], "m3");
    assert_eq!(
        crate::common::message_bodies(&context["events_before"]),
        ["m2"]
    );
    assert_eq!(
        crate::common::message_bodies(&context["events_after"]),
        ["m4"]
    );
    assert!(
        context["state"]
            .as_array()
            .is_some_and(|state| state.iter().any(|event| event["type"] == "m.room.create")),
        "{context}"
    );
    let elsewhere = server
        .get(
            &format!("/_synapse/admin/v1/rooms/{small_room}/context/{}", sent[2]),
            token,
        )
        .await;
    assert_error(&elsewhere, StatusCode::NOT_FOUND, "M_NOT_FOUND");
    let refused = server
        .get(
            &format!("/_synapse/admin/v1/rooms/{room_id}/messages"),
            Some(&alice.access_token),
        )
        .await;
    assert_error(&refused, StatusCode::FORBIDDEN, "M_FORBIDDEN");

    // The room's media.
    let (status, media) = server
        .get(&format!("/_synapse/admin/v1/room/{room_id}/media"), token)
        .await;
    assert_eq!(status, StatusCode::OK, "{media}");
    assert_eq!(
        media,
        json!({ "local": uris.clone(), "remote": ["mxc://elsewhere.example/abc"] })
    );
    let (status, quarantined) = server
        .post(
            &format!("/_synapse/admin/v1/room/{room_id}/media/quarantine"),
            token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{quarantined}");
    assert_eq!(quarantined, json!({ "num_quarantined": 2 }));
    for uri in &uris {
        let id = uri.rsplit('/').next().expect("media id");
        let response = download(
            &server,
            Some(&alice.access_token),
            &format!("/_matrix/client/v1/media/download/localhost/{id}"),
            None,
        )
        .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{uri}");
    }
    let (_, again) = server
        .post(
            &format!("/_synapse/admin/v1/quarantine_media/{room_id}"),
            token,
            json!({}),
        )
        .await;
    assert_eq!(again, json!({ "num_quarantined": 0 }));

    // Sizes: the busy room before the quiet one, both with their bytes.
    let (status, sizes) = server
        .get("/_synapse/admin/v1/statistics/database/rooms", token)
        .await;
    assert_eq!(status, StatusCode::OK, "{sizes}");
    let listed: Vec<&str> = sizes["rooms"]
        .as_array()
        .expect("rooms")
        .iter()
        .filter_map(|room| room["room_id"].as_str())
        .collect();
    let busy = listed.iter().position(|id| *id == room_id).expect("listed");
    let quiet = listed
        .iter()
        .position(|id| *id == small_room)
        .expect("listed");
    assert!(busy < quiet, "{sizes}");
    assert!(
        sizes["rooms"][busy]["estimated_size"].as_u64().unwrap_or(0) > 2000,
        "{sizes}"
    );
}
