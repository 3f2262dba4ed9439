//! matrix-sdk's sliding sync (what Element X runs) against Myelin: the client discovers
//! simplified sliding sync from `/versions`, its room list hears of an invite to an encrypted
//! room, and after joining it decrypts a message whose room key came through the to-device
//! and E2EE extensions.

use std::time::Duration;

use futures_util::StreamExt;
use matrix_sdk::{
    RoomState,
    deserialized_responses::TimelineEventKind,
    ruma::{
        api::client::room::create_room,
        events::{
            AnySyncMessageLikeEvent, AnySyncTimelineEvent, StateEventType,
            room::message::RoomMessageEventContent,
        },
    },
    sliding_sync::{SlidingSyncList, SlidingSyncMode, Version},
};

use crate::common::{Myelin, eventually, register, room_state, sync_once};

#[tokio::test(flavor = "multi_thread")]
async fn sliding_sync_room_list_invite_join_and_decrypt() {
    let server = Myelin::start();
    let alice = register(&server.url, "alice").await;
    let bob = register(&server.url, "bob").await;
    let versions = bob.available_sliding_sync_versions().await;
    assert!(
        versions
            .iter()
            .any(|version| matches!(version, Version::Native)),
        "/versions advertises simplified sliding sync"
    );

    let sliding = bob
        .sliding_sync("room-list")
        .expect("builder")
        .version(Version::Native)
        .add_list(
            SlidingSyncList::builder("all")
                .sync_mode(SlidingSyncMode::new_growing(10))
                .timeline_limit(10)
                .required_state(vec![
                    (StateEventType::RoomName, String::new()),
                    (StateEventType::RoomEncryption, String::new()),
                    (StateEventType::RoomMember, "$LAZY".to_owned()),
                    (StateEventType::RoomMember, "$ME".to_owned()),
                ]),
        )
        .with_all_extensions()
        .poll_timeout(Duration::from_secs(2))
        .build()
        .await
        .expect("sliding sync");
    let loop_handle = {
        let sliding = sliding.clone();
        tokio::spawn(async move {
            let stream = sliding.sync();
            futures_util::pin_mut!(stream);
            while let Some(update) = stream.next().await {
                update.expect("sliding sync response");
            }
        })
    };

    // Alice invites Bob to an encrypted room; Bob's room list shows the invite.
    let mut request = create_room::v3::Request::new();
    request.name = Some("Secret plans".to_owned());
    request.invite = vec![bob.user_id().expect("bob").to_owned()];
    let room = alice.create_room(request).await.expect("room");
    room.enable_encryption().await.expect("encryption on");
    let room_id = room.room_id().to_owned();
    eventually("the invite reaching Bob", 30, || async {
        room_state(&bob, &room_id) == Some(RoomState::Invited)
    })
    .await;

    bob.join_room_by_id(&room_id).await.expect("join");
    eventually("Bob's room list showing the joined room", 30, || async {
        room_state(&bob, &room_id) == Some(RoomState::Joined)
            && bob
                .get_room(&room_id)
                .is_some_and(|room| room.name().as_deref() == Some("Secret plans"))
    })
    .await;

    // Alice's client shares the room key with Bob's device; Bob decrypts.
    sync_once(&alice).await;
    let sent = room
        .send(RoomMessageEventContent::text_plain("meet at noon"))
        .await
        .expect("sent");
    let event_id = sent.response.event_id;
    let bob_room = bob.get_room(&room_id).expect("room known");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let body = loop {
        let event = bob_room.event(&event_id, None).await;
        if let Ok(event) = event
            && matches!(event.kind, TimelineEventKind::Decrypted(_))
        {
            break match event.raw().deserialize().expect("event JSON") {
                AnySyncTimelineEvent::MessageLike(AnySyncMessageLikeEvent::RoomMessage(
                    message,
                )) => message
                    .as_original()
                    .map(|original| original.content.body().to_owned()),
                other => panic!("not a message: {other:?}"),
            };
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "Bob could not decrypt the message within 60s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(body.as_deref(), Some("meet at noon"));

    sliding.stop_sync().expect("stop");
    loop_handle.abort();
}
