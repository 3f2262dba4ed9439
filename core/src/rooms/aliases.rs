//! Local room aliases and the public room directory list.

use ruma::{OwnedRoomAliasId, OwnedRoomId, OwnedUserId, RoomAliasId, RoomId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::Value as JsonValue;

use super::Rooms;
use crate::{
    error::{Error, Result},
    storage::{WriteBatch, compound_key},
};

const ALIAS_ROOM: &str = "alias_roomid";
const ROOMALIAS_ALIAS: &str = "roomidalias_alias";
pub(crate) const PUBLISHED_ROOMID: &str = "published_roomid";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct AliasRecord {
    room_id: OwnedRoomId,
    creator: OwnedUserId,
}

impl Rooms {
    pub fn resolve_local_alias(&self, alias: &RoomAliasId) -> Result<Option<OwnedRoomId>> {
        Ok(self
            .store()
            .get_json::<AliasRecord>(ALIAS_ROOM, alias.as_bytes())?
            .map(|record| record.room_id))
    }

    /// Points a local alias at a room; `RoomInUse` when the alias is taken.
    pub async fn set_local_alias(
        &self,
        alias: &RoomAliasId,
        room_id: &RoomId,
        creator: &UserId,
    ) -> Result<()> {
        if alias.server_name() != self.server_name() {
            return Err(Error::InvalidParam("Aliases must be on this server".into()));
        }
        self.existing_room(room_id)?;
        let _lock = self.lock(room_id).await;
        if self.resolve_local_alias(alias)?.is_some() {
            return Err(Error::RoomInUse("Room alias already taken".into()));
        }
        let mut batch = WriteBatch::new();
        batch.put_json(
            ALIAS_ROOM,
            alias.as_bytes().to_vec(),
            &AliasRecord {
                room_id: room_id.to_owned(),
                creator: creator.to_owned(),
            },
        );
        batch.put(
            ROOMALIAS_ALIAS,
            compound_key(&[room_id.as_bytes(), alias.as_bytes()]),
            alias.as_bytes().to_vec(),
        );
        self.store().commit(batch).await
    }

    /// Points every local alias of `from` at `to` (a room upgrade).
    pub(crate) async fn move_local_aliases(&self, from: &RoomId, to: &RoomId) -> Result<()> {
        let aliases = self.local_aliases(from)?;
        if aliases.is_empty() {
            return Ok(());
        }
        let mut batch = WriteBatch::new();
        for alias in aliases {
            let Some(mut record) = self
                .store()
                .get_json::<AliasRecord>(ALIAS_ROOM, alias.as_bytes())?
            else {
                continue;
            };
            record.room_id = to.to_owned();
            batch.put_json(ALIAS_ROOM, alias.as_bytes().to_vec(), &record);
            batch.delete(
                ROOMALIAS_ALIAS,
                compound_key(&[from.as_bytes(), alias.as_bytes()]),
            );
            batch.put(
                ROOMALIAS_ALIAS,
                compound_key(&[to.as_bytes(), alias.as_bytes()]),
                alias.as_bytes().to_vec(),
            );
        }
        self.store().commit(batch).await
    }

    /// Removes an alias. Its creator may, and so may room moderators (power to change
    /// `m.room.canonical_alias`), as in Synapse.
    pub async fn delete_local_alias(&self, alias: &RoomAliasId, user_id: &UserId) -> Result<()> {
        let Some(record) = self
            .store()
            .get_json::<AliasRecord>(ALIAS_ROOM, alias.as_bytes())?
        else {
            return Err(Error::NotFound("Room alias not found".into()));
        };
        if record.creator != user_id {
            let required = self.power_level_for(&record.room_id, "state_default", 50)?;
            if self.user_power_level(&record.room_id, user_id)? < required {
                return Err(Error::Forbidden("You may not delete this alias".into()));
            }
        }
        let mut batch = WriteBatch::new();
        batch.delete(ALIAS_ROOM, alias.as_bytes().to_vec());
        batch.delete(
            ROOMALIAS_ALIAS,
            compound_key(&[record.room_id.as_bytes(), alias.as_bytes()]),
        );
        self.store().commit(batch).await?;
        self.drop_from_canonical_alias(&record.room_id, alias, user_id)
            .await
    }

    /// A deleted alias leaves the room's `m.room.canonical_alias` too, as Synapse does
    /// [Complement TestRoomDeleteAlias]; sent by the deleting user, and skipped when their
    /// power does not allow it (the alias is gone either way).
    async fn drop_from_canonical_alias(
        &self,
        room_id: &RoomId,
        alias: &RoomAliasId,
        user_id: &UserId,
    ) -> Result<()> {
        let Some(current) = self.state_pdu(room_id, "m.room.canonical_alias", "")? else {
            return Ok(());
        };
        let mut content = current.content_json();
        let mut changed = false;
        if content["alias"].as_str() == Some(alias.as_str())
            && let Some(fields) = content.as_object_mut()
        {
            fields.remove("alias");
            changed = true;
        }
        // `get_mut`, not indexing: indexing a missing key would insert a `null`.
        if let Some(alternatives) = content
            .get_mut("alt_aliases")
            .and_then(JsonValue::as_array_mut)
        {
            let before = alternatives.len();
            alternatives.retain(|other| other.as_str() != Some(alias.as_str()));
            changed |= alternatives.len() != before;
        }
        if !changed {
            return Ok(());
        }
        match self
            .send_state(
                room_id,
                user_id,
                "m.room.canonical_alias",
                "",
                content,
                None,
            )
            .await
        {
            Ok(_) | Err(Error::Forbidden(_)) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Removes every local alias of a room (an administrator shutting it down: no power
    /// check, and the room's own state is left as it is). Returns them.
    pub async fn remove_local_aliases(&self, room_id: &RoomId) -> Result<Vec<OwnedRoomAliasId>> {
        let aliases = self.local_aliases(room_id)?;
        let mut batch = WriteBatch::new();
        for alias in &aliases {
            batch.delete(ALIAS_ROOM, alias.as_bytes().to_vec());
            batch.delete(
                ROOMALIAS_ALIAS,
                compound_key(&[room_id.as_bytes(), alias.as_bytes()]),
            );
        }
        self.store().commit(batch).await?;
        Ok(aliases)
    }

    pub fn local_aliases(&self, room_id: &RoomId) -> Result<Vec<OwnedRoomAliasId>> {
        let prefix = compound_key(&[room_id.as_bytes(), b""]);
        Ok(self
            .store()
            .scan_prefix(ROOMALIAS_ALIAS, &prefix, usize::MAX)?
            .into_iter()
            .filter_map(|(_, value)| {
                String::from_utf8(value)
                    .ok()
                    .and_then(|alias| RoomAliasId::parse(alias).ok())
            })
            .collect())
    }

    pub async fn set_published(&self, room_id: &RoomId, published: bool) -> Result<()> {
        self.set_published_in(room_id, None, published).await
    }

    /// Publishes a room (or takes it out) in the directory of a bridged network (an
    /// appservice's `network_id`), or of Matrix itself when `network` is `None`.
    pub async fn set_published_in(
        &self,
        room_id: &RoomId,
        network: Option<&str>,
        published: bool,
    ) -> Result<()> {
        self.existing_room(room_id)?;
        let mut batch = WriteBatch::new();
        if published {
            batch.put(
                PUBLISHED_ROOMID,
                room_id.as_bytes().to_vec(),
                network.unwrap_or_default().as_bytes().to_vec(),
            );
        } else {
            batch.delete(PUBLISHED_ROOMID, room_id.as_bytes().to_vec());
        }
        self.store().commit(batch).await
    }

    pub fn is_published(&self, room_id: &RoomId) -> Result<bool> {
        Ok(self
            .store()
            .get(PUBLISHED_ROOMID, room_id.as_bytes())?
            .is_some())
    }
}
