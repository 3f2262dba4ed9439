//! Rooms an administrator blocked: no local user may join them (Synapse's `block`).

use ruma::{OwnedUserId, RoomId, UserId};

use super::Rooms;
use crate::{
    error::{Error, Result},
    storage::WriteBatch,
};

/// Room id → the administrator who blocked it.
const ROOMID_BLOCKEDBY: &str = "roomid_blockedby";

impl Rooms {
    /// Who blocked the room, if it is blocked.
    pub fn blocked_by(&self, room_id: &RoomId) -> Result<Option<OwnedUserId>> {
        Ok(self
            .store()
            .get(ROOMID_BLOCKEDBY, room_id.as_bytes())?
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|user| ruma::UserId::parse(user).ok()))
    }

    /// Blocks a room (`by` is the administrator) or lifts the block (`None`).
    pub async fn set_blocked(&self, room_id: &RoomId, by: Option<&UserId>) -> Result<()> {
        let mut batch = WriteBatch::new();
        match by {
            Some(admin) => batch.put(
                ROOMID_BLOCKEDBY,
                room_id.as_bytes().to_vec(),
                admin.as_bytes().to_vec(),
            ),
            None => batch.delete(ROOMID_BLOCKEDBY, room_id.as_bytes().to_vec()),
        }
        self.store().commit(batch).await
    }

    /// Refuses a local user's join of a blocked room.
    pub fn check_not_blocked(&self, room_id: &RoomId) -> Result<()> {
        if self.blocked_by(room_id)?.is_some() {
            return Err(Error::Forbidden(
                "This room has been blocked on this server".into(),
            ));
        }
        Ok(())
    }
}
