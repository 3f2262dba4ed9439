//! Push rule evaluation on the send path: every event is evaluated against the push rules of
//! every local member of its room (ruma's evaluation), inside the durable send. Measures sends
//! into a room with many local members against sends into a two-member room, in the same run,
//! on the same store; the ratio is what large rooms cost.
//!
//! Run: `cargo bench --bench push_evaluation -- [members] [messages]` (defaults 1000, 200).

use std::time::Instant;

use myelin_core::{
    Services,
    config::Config,
    rooms::{CreateRoomRequest, EventSpec, MemberProfile, Preset},
};
use ruma::{OwnedRoomId, OwnedUserId, UserId};
use serde_json::json;

async fn account(services: &Services, name: &str) -> OwnedUserId {
    let user_id = UserId::parse(format!("@{name}:localhost")).expect("user id");
    services
        .users
        .create_account(&user_id, None, false, None)
        .await
        .expect("account");
    user_id
}

async fn room(services: &Services, creator: &UserId) -> OwnedRoomId {
    let request = CreateRoomRequest {
        creator: creator.to_owned(),
        room_version: None,
        preset: Some(Preset::PublicChat),
        public_visibility: false,
        name: None,
        topic: None,
        alias: None,
        invite: Vec::new(),
        is_direct: false,
        creation_content: Default::default(),
        initial_state: Vec::new(),
        power_level_content_override: None,
        creator_displayname: None,
        creator_avatar_url: None,
        invitee_profiles: Default::default(),
    };
    services
        .rooms
        .create_room(request, None)
        .await
        .expect("room")
}

/// Seconds per message for `messages` sends into `room_id`.
async fn time_sends(
    services: &Services,
    room_id: &OwnedRoomId,
    sender: &UserId,
    messages: usize,
) -> f64 {
    let started = Instant::now();
    for index in 0..messages {
        let spec = EventSpec::message(
            "m.room.message",
            json!({ "msgtype": "m.text", "body": format!("hello everyone {index}") }),
        );
        services
            .rooms
            .send(room_id, sender, spec, None)
            .await
            .expect("sent");
    }
    started.elapsed().as_secs_f64() / messages as f64
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1).filter(|arg| !arg.starts_with('-'));
    let members: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let messages: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(200);
    let dir = tempfile::tempdir().expect("data dir");
    let mut config = Config::default();
    config.server.data_dir = dir.path().to_path_buf();
    let services = Services::open(config).expect("services");

    let sender = account(&services, "sender").await;
    let small = room(&services, &sender).await;
    let big = room(&services, &sender).await;
    let listener = account(&services, "listener").await;
    let profile = MemberProfile::default();
    services
        .rooms
        .join(&small, &listener, &profile, None)
        .await
        .expect("join");
    for index in 0..members {
        let member = account(&services, &format!("member{index}")).await;
        services
            .rooms
            .join(&big, &member, &profile, None)
            .await
            .expect("join");
    }
    // Warm both paths once (first evaluations parse each member's rules).
    time_sends(&services, &small, &sender, 5).await;
    time_sends(&services, &big, &sender, 5).await;

    let baseline = time_sends(&services, &small, &sender, messages).await;
    let large = time_sends(&services, &big, &sender, messages).await;
    println!("push evaluation, {messages} messages each, same store, same run");
    println!(
        "  2-member room:     {:8.3} ms/message  ({:.0} messages/s)",
        baseline * 1e3,
        1.0 / baseline
    );
    println!(
        "  {members}-member room: {:8.3} ms/message  ({:.0} messages/s)",
        large * 1e3,
        1.0 / large
    );
    println!(
        "  ratio: {:.2}x the two-member cost; {:.1} µs per member per message",
        large / baseline,
        (large - baseline) * 1e6 / members as f64
    );
}
