//! Element X's own sync stack from matrix-sdk-ui against Myelin: `SyncService` (the room list
//! service and the encryption sync service, two sliding sync connections), the room list seeing
//! an invite and the joined room, and a `Timeline` showing a decrypted message, as the app does
//! when a room is opened.

use matrix_sdk::{
    RoomState,
    ruma::{api::client::room::create_room, events::room::message::RoomMessageEventContent},
};
use matrix_sdk_ui::{sync_service::SyncService, timeline::RoomExt};

use crate::common::{Myelin, eventually, register, room_state, sync_once};

#[tokio::test(flavor = "multi_thread")]
async fn element_x_sync_service_lists_rooms_and_shows_decrypted_messages() {
    let server = Myelin::start();
    let alice = register(&server.url, "alice").await;
    let bob = register(&server.url, "bob").await;
    let sync_service = SyncService::builder(bob.clone())
        .build()
        .await
        .expect("sync service");
    sync_service.start().await;
    let room_list = sync_service.room_list_service();

    let mut request = create_room::v3::Request::new();
    request.name = Some("Weekend plans".to_owned());
    request.invite = vec![bob.user_id().expect("bob").to_owned()];
    let room = alice.create_room(request).await.expect("room");
    room.enable_encryption().await.expect("encryption on");
    let room_id = room.room_id().to_owned();
    eventually("the invite in Bob's room list", 30, || async {
        room_state(&bob, &room_id) == Some(RoomState::Invited)
    })
    .await;
    bob.join_room_by_id(&room_id).await.expect("join");
    eventually("the joined room with its name", 30, || async {
        room_state(&bob, &room_id) == Some(RoomState::Joined)
            && bob
                .get_room(&room_id)
                .is_some_and(|room| room.name().as_deref() == Some("Weekend plans"))
    })
    .await;

    // Opening the room: a subscription and a timeline.
    room_list.subscribe_to_rooms(&[&room_id]).await;
    let timeline = bob
        .get_room(&room_id)
        .expect("room known")
        .timeline()
        .await
        .expect("timeline");
    sync_once(&alice).await;
    room.send(RoomMessageEventContent::text_plain("see you at noon"))
        .await
        .expect("sent");
    eventually("the decrypted message in Bob's timeline", 60, || async {
        timeline.items().await.iter().any(|item| {
            item.as_event()
                .and_then(|event| {
                    event
                        .content()
                        .as_message()
                        .map(|message| message.body().to_owned())
                })
                .is_some_and(|body| body == "see you at noon")
        })
    })
    .await;
    sync_service.stop().await;
}
