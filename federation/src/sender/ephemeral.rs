//! Ephemeral EDUs out: typing changes and presence of local users, queued in memory for the
//! servers that share a room with them.

use std::collections::{BTreeSet, HashMap};

use ruma::{OwnedRoomId, OwnedServerName, OwnedUserId};
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

    /// Queues presence changes of local users for the servers that share a room with them;
    /// returns the serial handled.
    pub(super) fn file_presence(&self, since: u64) -> u64 {
        let presence = &self.services.presence;
        let serial = self.services.typing.serial();
        if !presence.enabled() || serial == since {
            return serial;
        }
        let own = self.services.rooms.server_name().clone();
        let mut pushes: HashMap<OwnedServerName, Vec<JsonValue>> = HashMap::new();
        for user in presence.changed_since(Some(since)) {
            if user.server_name() != own {
                continue;
            }
            let status = presence.status(&user);
            let mut update = json!({
                "user_id": user,
                "presence": status.state.as_str(),
                "currently_active": status.currently_active,
                "last_active_ago": status.last_active_ago.unwrap_or(0),
            });
            if let Some(message) = &status.status_msg {
                update["status_msg"] = message.clone().into();
            }
            let mut servers = BTreeSet::new();
            for room_id in self.services.rooms.joined_rooms(&user).unwrap_or_default() {
                servers.extend(self.room_destinations(&room_id).unwrap_or_default());
            }
            for server in servers {
                pushes.entry(server).or_default().push(update.clone());
            }
        }
        for (destination, push) in pushes {
            let state = self.destination(&destination);
            lock(&state.ephemeral)
                .push(json!({ "edu_type": "m.presence", "content": { "push": push } }));
            state.wake.notify_one();
        }
        serial
    }
}
