//! What Element X and Element Call use beyond the core spec, driven by matrix-sdk: thread
//! subscriptions (MSC4306) through the SDK's own room API, and a MatrixRTC-style delayed leave
//! (MSC4140) that the server sends after the client stops, as after a crash.

use std::time::Duration;

use matrix_sdk::ruma::{
    OwnedRoomId,
    api::client::{
        delayed_events::{DelayParameters, delayed_state_event},
        room::create_room,
    },
    events::{StateEventType, room::message::RoomMessageEventContent},
    serde::Raw,
};

use crate::common::{Myelin, eventually, register, reqwest_free_get};

#[tokio::test(flavor = "multi_thread")]
async fn thread_subscriptions_and_a_delayed_call_leave() {
    let server = Myelin::start();
    let alice = register(&server.url, "alice").await;
    let room = alice
        .create_room(create_room::v3::Request::new())
        .await
        .expect("a room");
    let room_id: OwnedRoomId = room.room_id().to_owned();

    // Thread subscriptions, as the SDK makes and reads them.
    let root = room
        .send(RoomMessageEventContent::text_plain("thread root"))
        .await
        .expect("sent")
        .response
        .event_id;
    room.subscribe_thread(root.clone(), None)
        .await
        .expect("subscribed");
    let subscription = room
        .fetch_thread_subscription(root.clone())
        .await
        .expect("fetched")
        .expect("a subscription");
    assert!(!subscription.automatic);
    room.unsubscribe_thread(root.clone())
        .await
        .expect("unsubscribed");
    assert!(
        room.fetch_thread_subscription(root)
            .await
            .expect("fetched")
            .is_none()
    );

    // A call member event whose end is scheduled (Element Call's way): the client then stops
    // refreshing it, and the server sends the "left" state on its own.
    let event_type = StateEventType::from("org.matrix.msc3401.call.member");
    let state_key = format!("_{}_DEVICE", alice.user_id().expect("logged in"));
    let leave =
        Raw::from_json(serde_json::value::to_raw_value(&serde_json::json!({})).expect("raw"));
    let request = delayed_state_event::unstable::Request::new_raw(
        room_id.clone(),
        state_key.clone(),
        event_type,
        DelayParameters::Timeout {
            timeout: Duration::from_millis(1500),
        },
        leave,
    );
    let scheduled = alice.send(request).await.expect("scheduled");
    assert!(!scheduled.delay_id.is_empty());
    let token = alice.access_token().expect("a token");
    // The client "crashes": nothing of it runs any more.
    drop(room);
    drop(alice);
    let path = format!(
        "/_matrix/client/v3/rooms/{room_id}/state/org.matrix.msc3401.call.member/{state_key}"
    );
    assert!(
        reqwest_free_get(&server.url, &token, &path)
            .await
            .get("errcode")
            .is_some(),
        "not sent before its delay"
    );
    eventually("the delayed leave is sent", 15, || async {
        reqwest_free_get(&server.url, &token, &path)
            .await
            .get("errcode")
            .is_none()
    })
    .await;
}
