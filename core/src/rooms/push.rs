//! Which local members an event notifies or highlights, by each member's push rules (ruma's
//! evaluation), stored with the event so unread counts are a range count after the member's
//! read receipt.

use std::collections::{BTreeMap, HashSet};

use ruma::{
    Int, OwnedUserId, RoomId, UInt, UserId,
    power_levels::NotificationPowerLevels,
    push::{PushConditionPowerLevelsCtx, PushConditionRoomCtx, Ruleset},
    room_version_rules::{RoomPowerLevelsRules, RoomVersionRules},
    serde::Raw,
};
use serde::{Deserialize, Serialize};
use serde_json::Value as JsonValue;

use super::{Notification, PduEvent, Rooms, relations::relation_of};
use crate::{
    Error, Result,
    storage::{WriteBatch, compound_key},
};

/// user, room, position → what the event did for the user.
const USERROOMPOSITION_NOTIFY: &str = "userroomposition_notify";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct NotifyRecord {
    highlight: bool,
    /// Thread root for events in a thread.
    thread: Option<String>,
}

/// Unread counts of one room for one user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnreadCounts {
    pub notifications: u64,
    pub highlights: u64,
    /// Per thread root (events outside threads count under `main` only in `notifications`).
    pub threads: BTreeMap<String, (u64, u64)>,
}

impl Rooms {
    /// A user's push rules: their own (`m.push_rules` account data, managed by the push-rule
    /// endpoints) or the spec's defaults.
    fn ruleset_of(&self, user_id: &UserId) -> Ruleset {
        crate::users::push_rules::stored_push_rules(self.store(), user_id)
            .unwrap_or_else(|_| Ruleset::server_default(user_id))
    }

    fn power_levels_context(
        &self,
        room_id: &RoomId,
        rules: &RoomVersionRules,
    ) -> Result<Option<PushConditionPowerLevelsCtx>> {
        let Some(levels) = self.state_pdu(room_id, "m.room.power_levels", "")? else {
            return Ok(None);
        };
        let content = levels.content_json();
        let users: BTreeMap<OwnedUserId, Int> = content
            .get("users")
            .and_then(JsonValue::as_object)
            .map(|users| {
                users
                    .iter()
                    .filter_map(|(user, level)| {
                        Some((
                            UserId::parse(user.as_str()).ok()?,
                            Int::new(level.as_i64()?)?,
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let users_default = content
            .get("users_default")
            .and_then(JsonValue::as_i64)
            .and_then(Int::new)
            .unwrap_or_default();
        let notifications: NotificationPowerLevels = content
            .get("notifications")
            .cloned()
            .and_then(|value| serde_json::from_value(value).ok())
            .unwrap_or_default();
        let mut creators = Vec::new();
        if let Some(create) = self.state_pdu(room_id, "m.room.create", "")? {
            creators.push(create.sender.clone());
            let additional = create
                .content_json()
                .get("additional_creators")
                .cloned()
                .unwrap_or_default();
            creators.extend(
                additional
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|id| id.as_str().and_then(|id| UserId::parse(id).ok())),
            );
        }
        let level_rules = RoomPowerLevelsRules::new(&rules.authorization, creators);
        Ok(Some(PushConditionPowerLevelsCtx::new(
            users,
            users_default,
            notifications,
            level_rules,
        )))
    }

    /// Adds notify records for every local joined member (other than the sender) whose push
    /// rules say `notify` for `pdu`.
    pub(crate) async fn index_push_actions(
        &self,
        batch: &mut WriteBatch,
        room_id: &RoomId,
        rules: &RoomVersionRules,
        pdu: &PduEvent,
        position: u64,
    ) -> Result<()> {
        let members = self.joined_members(room_id)?;
        let local: Vec<(OwnedUserId, String)> = members
            .iter()
            .filter_map(|member| {
                let user = UserId::parse(member.state_key.as_deref()?).ok()?;
                let name = member
                    .content_json()
                    .get("displayname")
                    .and_then(JsonValue::as_str)
                    .unwrap_or(user.localpart())
                    .to_owned();
                (user.server_name() == self.server_name() && user != pdu.sender)
                    .then_some((user, name))
            })
            .collect();
        if local.is_empty() {
            return Ok(());
        }
        let event: Raw<ruma::events::AnySyncTimelineEvent> = Raw::from_json(
            serde_json::value::to_raw_value(&pdu.to_client_event(true))
                .map_err(|error| Error::Internal(error.to_string()))?,
        );
        let member_count = UInt::try_from(members.len()).unwrap_or(UInt::MAX);
        let power_levels = self.power_levels_context(room_id, rules)?;
        let thread = relation_of(pdu)
            .filter(|(rel_type, _)| rel_type == "m.thread")
            .map(|(_, root)| root.to_string());
        let mut seen = HashSet::new();
        for (user_id, display_name) in local {
            if !seen.insert(user_id.clone()) {
                continue;
            }
            let mut context = PushConditionRoomCtx::new(
                room_id.to_owned(),
                member_count,
                user_id.clone(),
                display_name,
            );
            context.power_levels = power_levels.clone();
            let ruleset = self.ruleset_of(&user_id);
            let actions = ruleset.get_actions(&event, &context).await;
            if actions.iter().any(|action| action.should_notify()) {
                let highlight = actions.iter().any(|action| action.is_highlight());
                let record = NotifyRecord {
                    highlight,
                    thread: thread.clone(),
                };
                self.record_notification(
                    batch,
                    &user_id,
                    position,
                    Notification {
                        room_id: room_id.to_owned(),
                        event_id: pdu.event_id.clone(),
                        actions: actions.to_vec(),
                        ts: crate::users::now_ms(),
                        highlight,
                    },
                );
                batch.put_json(
                    USERROOMPOSITION_NOTIFY,
                    compound_key(&[
                        user_id.as_bytes(),
                        room_id.as_bytes(),
                        &position.to_be_bytes(),
                    ]),
                    &record,
                );
            }
        }
        Ok(())
    }

    /// Notifications and highlights after the user's read receipt.
    pub fn unread_counts(&self, room_id: &RoomId, user_id: &UserId) -> Result<UnreadCounts> {
        let read_position = match self.own_read_receipt(room_id, user_id)? {
            Some(event_id) => self.event_position(&event_id)?.unwrap_or(0),
            None => 0,
        };
        let start = compound_key(&[
            user_id.as_bytes(),
            room_id.as_bytes(),
            &(read_position + 1).to_be_bytes(),
        ]);
        let end = compound_key(&[
            user_id.as_bytes(),
            room_id.as_bytes(),
            &u64::MAX.to_be_bytes(),
        ]);
        let mut counts = UnreadCounts::default();
        for (_, value) in self.store().range(
            USERROOMPOSITION_NOTIFY,
            std::ops::Bound::Included(&start),
            std::ops::Bound::Included(&end),
            false,
            usize::MAX,
        )? {
            let record: NotifyRecord = serde_json::from_slice(&value).map_err(Error::storage)?;
            counts.notifications += 1;
            counts.highlights += u64::from(record.highlight);
            let thread = counts
                .threads
                .entry(record.thread.unwrap_or_else(|| "main".into()))
                .or_default();
            thread.0 += 1;
            thread.1 += u64::from(record.highlight);
        }
        Ok(counts)
    }

    /// Deletes the user's notify records up to `position` in a room.
    pub(crate) fn prune_notifications(
        &self,
        batch: &mut WriteBatch,
        room_id: &RoomId,
        user_id: &UserId,
        position: u64,
    ) -> Result<()> {
        let start = compound_key(&[user_id.as_bytes(), room_id.as_bytes(), &0u64.to_be_bytes()]);
        let end = compound_key(&[
            user_id.as_bytes(),
            room_id.as_bytes(),
            &position.to_be_bytes(),
        ]);
        for (key, _) in self.store().range(
            USERROOMPOSITION_NOTIFY,
            std::ops::Bound::Included(&start),
            std::ops::Bound::Included(&end),
            false,
            usize::MAX,
        )? {
            batch.delete(USERROOMPOSITION_NOTIFY, key);
        }
        Ok(())
    }
}
