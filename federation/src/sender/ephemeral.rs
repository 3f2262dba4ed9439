//! Typing notifications out: changes of local users' typing, queued in memory for the servers
//! that share the room (they expire in seconds; presence goes through the stream).

use std::collections::BTreeSet;

use ruma::{OwnedRoomId, OwnedUserId};
use serde_json::{Value as JsonValue, json};

use super::{Sender, lock};

impl Sender {
    /// Queues typing changes of local users; returns the serial handled.
    pub(super) fn file_typing(&self, since: u64) -> u64 {
        let typing = &self.services.typing;
        let serial = typing.serial();
        let own = self.services.rooms.server_name().clone();
        let mut rooms: BTreeSet<OwnedRoomId> =
            typing.rooms_changed_since(since).into_iter().collect();
        rooms.extend(lock(&self.typing_sent).keys().cloned());
        for room_id in rooms {
            let now: BTreeSet<OwnedUserId> = typing
                .typing_users(&room_id)
                .into_iter()
                .filter(|user| user.server_name() == own)
                .collect();
            let before = lock(&self.typing_sent)
                .get(&room_id)
                .cloned()
                .unwrap_or_default();
            if now == before {
                continue;
            }
            let Ok(destinations) = self.room_destinations(&room_id) else {
                continue;
            };
            let edus: Vec<JsonValue> = now
                .iter()
                .filter(|user| !before.contains(*user))
                .map(|user| (user, true))
                .chain(
                    before
                        .iter()
                        .filter(|user| !now.contains(*user))
                        .map(|user| (user, false)),
                )
                .map(|(user, typing)| {
                    json!({
                        "edu_type": "m.typing",
                        "content": { "room_id": room_id, "user_id": user, "typing": typing },
                    })
                })
                .collect();
            for destination in destinations {
                let state = self.destination(&destination);
                lock(&state.ephemeral).extend(edus.iter().cloned());
                state.wake.notify_one();
            }
            let mut sent = lock(&self.typing_sent);
            if now.is_empty() {
                sent.remove(&room_id);
            } else {
                sent.insert(room_id, now);
            }
        }
        serial
    }
}
