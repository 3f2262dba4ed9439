//! matrix-sdk (the Rust SDK behind Element X) against a real `myelin` process: cross-signing
//! bootstrapped at login, recovery (secret storage + key backup) enabled on one device, and a
//! second device of the same user that recovers with the recovery key, finds itself
//! cross-signed, and decrypts an old message with the room key from the server-side backup.

use matrix_sdk::ruma::{
    api::client::room::create_room,
    events::{
        AnySyncMessageLikeEvent, AnySyncTimelineEvent, room::message::RoomMessageEventContent,
    },
};

use crate::common::{Myelin, login, register, reqwest_free_get, sync_once};

#[tokio::test(flavor = "multi_thread")]
async fn a_new_device_recovers_and_decrypts_history_from_the_key_backup() {
    let server = Myelin::start();
    let first = register(&server.url, "alice").await;
    sync_once(&first).await;
    let own_identity = first
        .encryption()
        .get_user_identity(first.user_id().expect("user"))
        .await
        .expect("identity query");
    assert!(
        own_identity.is_some(),
        "cross-signing was bootstrapped through device_signing/upload"
    );

    // An encrypted room with a message only the first device has the key for.
    let mut request = create_room::v3::Request::new();
    request.name = Some("Diary".to_owned());
    let room = first.create_room(request).await.expect("room");
    room.enable_encryption().await.expect("encryption on");
    sync_once(&first).await;
    let sent = room
        .send(RoomMessageEventContent::text_plain("the secret is 42"))
        .await
        .expect("sent");

    // Recovery: secret storage, a backup version, and the room keys uploaded to it.
    let recovery_key = first
        .encryption()
        .recovery()
        .enable()
        .wait_for_backups_to_upload()
        .await
        .expect("recovery enabled");
    let backed_up = reqwest_free_get(
        &server.url,
        first.access_token().as_deref().expect("token"),
        "/_matrix/client/v3/room_keys/version",
    )
    .await;
    assert!(
        backed_up["count"].as_u64().is_some_and(|count| count >= 1),
        "room keys reached the backup: {backed_up}"
    );

    // A new device: it has no room keys until it recovers.
    let second = login(&server.url, "alice").await;
    sync_once(&second).await;
    let room_on_second = second.get_room(room.room_id()).expect("room known");
    let before = room_on_second
        .event(&sent.response.event_id, None)
        .await
        .expect("event");
    assert!(
        !matches!(
            before.kind,
            matrix_sdk::deserialized_responses::TimelineEventKind::Decrypted(_)
        ),
        "the new device cannot decrypt before recovery"
    );

    second
        .encryption()
        .recovery()
        .recover(&recovery_key)
        .await
        .expect("recovered");
    second
        .encryption()
        .backups()
        .download_room_keys_for_room(room.room_id())
        .await
        .expect("keys downloaded from the backup");
    let after = room_on_second
        .event(&sent.response.event_id, None)
        .await
        .expect("event");
    let body = match after.raw().deserialize().expect("event JSON") {
        AnySyncTimelineEvent::MessageLike(AnySyncMessageLikeEvent::RoomMessage(message)) => message
            .as_original()
            .map(|original| original.content.body().to_owned()),
        other => panic!("not a decrypted message: {other:?}"),
    };
    assert_eq!(body.as_deref(), Some("the secret is 42"));

    // Recovery imported the cross-signing keys: the second device signed itself, and the
    // first device sees it as cross-signed by its owner (signatures/upload, keys/query).
    sync_once(&first).await;
    let second_device = first
        .encryption()
        .get_device(
            first.user_id().expect("user"),
            second.device_id().expect("device"),
        )
        .await
        .expect("device query")
        .expect("device known");
    assert!(
        second_device.is_cross_signed_by_owner(),
        "the new device is cross-signed"
    );
}
