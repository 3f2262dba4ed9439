//! Which local members an event notifies or highlights, by each member's push rules (ruma's
//! evaluation), stored with the event so unread counts are a range count after the member's
//! read receipt.

use std::{collections::BTreeMap, sync::Arc};

use ruma::{
    Int, OwnedUserId, RoomId, UInt, UserId,
    power_levels::NotificationPowerLevels,
    push::{FlattenedJson, PushConditionPowerLevelsCtx, PushConditionRoomCtx, Ruleset},
    room_version_rules::{RoomPowerLevelsRules, RoomVersionRules},
    serde::Raw,
};
use serde::{Deserialize, Serialize};
use serde_json::Value as JsonValue;

use super::{PduEvent, Rooms, relations::relation_of};
use crate::users::LEGACY_MENTION_RULES;
use crate::{
    error::{Error, Result},
    storage::{WriteBatch, compound_key},
};

/// user, room, position → what the event did for the user.
pub(crate) const USERROOMPOSITION_NOTIFY: &str = "userroomposition_notify";

/// What one event did for one user: kept for unread counts (a range count after the user's read
/// receipt), for `GET /notifications` and for push delivery. One record per notified member is
/// the whole write cost push rules add to the send path.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct NotifyRecord {
    pub(crate) highlight: bool,
    /// Thread root for events in a thread.
    pub(crate) thread: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) actions: Vec<ruma::push::Action>,
    /// When the event was evaluated (ms); read records are dropped after a retention period.
    #[serde(default)]
    pub(crate) ts: u64,
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
    fn ruleset_of(&self, user_id: &UserId) -> std::sync::Arc<Ruleset> {
        self.inner
            .push_rules
            .rules(self.store(), user_id)
            .unwrap_or_else(|_| std::sync::Arc::new(crate::users::server_default_rules(user_id)))
    }

    /// The local users joined to a room now (cached per state snapshot).
    /// Local users invited to the room now.
    pub fn local_invited_members(&self, room_id: &RoomId) -> Result<Vec<OwnedUserId>> {
        Ok(self
            .current_state(room_id)?
            .into_iter()
            .filter(|event| {
                event.kind == ruma::events::TimelineEventType::RoomMember
                    && event
                        .content_json()
                        .get("membership")
                        .and_then(|m| m.as_str())
                        == Some("invite")
            })
            .filter_map(|event| {
                event
                    .state_key
                    .and_then(|key| ruma::UserId::parse(key).ok())
            })
            .filter(|user| user.server_name() == self.server_name())
            .collect())
    }

    pub fn local_joined_members(&self, room_id: &RoomId) -> Result<Vec<OwnedUserId>> {
        Ok(self
            .push_audience(room_id)?
            .local
            .iter()
            .map(|(user, _)| user.clone())
            .collect())
    }

    /// Who an event in the room's current state is evaluated for, cached per state snapshot
    /// (loading every member event per message would dominate large rooms).
    fn push_audience(&self, room_id: &RoomId) -> Result<Arc<super::snapshots::PushAudience>> {
        let snapshot = self
            .room_info(room_id)?
            .and_then(|info| info.state_snapshot);
        if let Some(snapshot) = snapshot
            && let Some(audience) = self.inner.snapshots.cached_audience(snapshot)
        {
            return Ok(audience);
        }
        let members = self.joined_members(room_id)?;
        let mut local: Vec<(OwnedUserId, String)> = members
            .iter()
            .filter_map(|member| {
                let user = UserId::parse(member.state_key.as_deref()?).ok()?;
                let name = member
                    .content_json()
                    .get("displayname")
                    .and_then(JsonValue::as_str)
                    .unwrap_or(user.localpart())
                    .to_owned();
                (user.server_name() == self.server_name()).then_some((user, name))
            })
            .collect();
        local.sort();
        local.dedup_by(|a, b| a.0 == b.0);
        let audience = Arc::new(super::snapshots::PushAudience {
            member_count: members.len(),
            local,
        });
        if let Some(snapshot) = snapshot {
            self.inner
                .snapshots
                .cache_audience(snapshot, Arc::clone(&audience));
        }
        Ok(audience)
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
        let audience = self.push_audience(room_id)?;
        if audience.local.is_empty() {
            return Ok(());
        }
        let event: Raw<ruma::events::AnySyncTimelineEvent> = Raw::from_json(
            serde_json::value::to_raw_value(&pdu.to_client_event(true))
                .map_err(|error| Error::Internal(error.to_string()))?,
        );
        // Flattened once for every member (ruma's `get_actions` would flatten per call).
        let flattened = FlattenedJson::from_raw(&event);
        let member_count = UInt::try_from(audience.member_count).unwrap_or(UInt::MAX);
        let power_levels = self.power_levels_context(room_id, rules)?;
        let thread = relation_of(pdu)
            .filter(|(rel_type, _)| rel_type == "m.thread")
            .map(|(_, root)| root.to_string());
        // Legacy mention rules do not apply to events that say whom they mention.
        let has_mentions = pdu.content_json().get("m.mentions").is_some();
        for (user_id, display_name) in &audience.local {
            if *user_id == pdu.sender {
                continue;
            }
            let mut context = PushConditionRoomCtx::new(
                room_id.to_owned(),
                member_count,
                user_id.clone(),
                display_name.clone(),
            );
            context.power_levels = power_levels.clone();
            let ruleset = self.ruleset_of(user_id);
            let mut actions: &[ruma::push::Action] = &[];
            for rule in ruleset.iter() {
                if has_mentions && LEGACY_MENTION_RULES.contains(&rule.rule_id()) {
                    continue;
                }
                if rule.applies(&flattened, &context).await {
                    actions = rule.actions();
                    break;
                }
            }
            if actions.iter().any(|action| action.should_notify()) {
                let record = NotifyRecord {
                    highlight: actions.iter().any(|action| action.is_highlight()),
                    thread: thread.clone(),
                    actions: actions.to_vec(),
                    ts: crate::users::now_ms(),
                };
                self.queue_push(batch, user_id, room_id, position);
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

    /// Notifications and highlights after the user's read receipts, as Synapse counts them
    /// [Complement TestThreadedReceipts]: an event of the main timeline counts after the later
    /// of the unthreaded and the `main` receipt, an event of a thread after the later of the
    /// unthreaded receipt and that thread's receipt.
    pub fn unread_counts(&self, room_id: &RoomId, user_id: &UserId) -> Result<UnreadCounts> {
        let unthreaded = self
            .read_receipt_position(room_id, user_id, None)?
            .unwrap_or(0);
        let main = self
            .read_receipt_position(room_id, user_id, Some("main"))?
            .unwrap_or(0)
            .max(unthreaded);
        let mut thread_marks: BTreeMap<String, u64> = BTreeMap::new();
        let start = compound_key(&[
            user_id.as_bytes(),
            room_id.as_bytes(),
            &(unthreaded + 1).to_be_bytes(),
        ]);
        let end = compound_key(&[
            user_id.as_bytes(),
            room_id.as_bytes(),
            &u64::MAX.to_be_bytes(),
        ]);
        let mut counts = UnreadCounts::default();
        for (key, value) in self.store().range(
            USERROOMPOSITION_NOTIFY,
            std::ops::Bound::Included(&start),
            std::ops::Bound::Included(&end),
            false,
            usize::MAX,
        )? {
            let record: NotifyRecord = serde_json::from_slice(&value).map_err(Error::storage)?;
            let position = key
                .len()
                .checked_sub(8)
                .and_then(|at| key[at..].try_into().ok())
                .map_or(0, u64::from_be_bytes);
            let mark = match &record.thread {
                None => main,
                Some(root) => match thread_marks.get(root) {
                    Some(mark) => *mark,
                    None => {
                        let mark = self
                            .read_receipt_position(room_id, user_id, Some(root))?
                            .unwrap_or(0)
                            .max(unthreaded);
                        thread_marks.insert(root.clone(), mark);
                        mark
                    }
                },
            };
            if position <= mark {
                continue;
            }
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

    /// Deletes the user's read notify records in a room (up to `position`) once they are older
    /// than the retention period: unread counts never look at them, and `GET /notifications`
    /// shows read notifications for that long (Synapse keeps them 30 days too). Records are in
    /// position order, which is time order, so this stops at the first young one.
    pub(crate) fn prune_notifications(
        &self,
        batch: &mut WriteBatch,
        room_id: &RoomId,
        user_id: &UserId,
        position: u64,
    ) -> Result<()> {
        let cutoff = crate::users::now_ms().saturating_sub(NOTIFICATION_RETENTION_MS);
        let start = compound_key(&[user_id.as_bytes(), room_id.as_bytes(), &0u64.to_be_bytes()]);
        let end = compound_key(&[
            user_id.as_bytes(),
            room_id.as_bytes(),
            &position.to_be_bytes(),
        ]);
        const PAGE: usize = 256;
        let mut from = start;
        loop {
            let page = self.store().range(
                USERROOMPOSITION_NOTIFY,
                std::ops::Bound::Included(from.as_slice()),
                std::ops::Bound::Included(end.as_slice()),
                false,
                PAGE,
            )?;
            for (key, value) in &page {
                let record: NotifyRecord = serde_json::from_slice(value).map_err(Error::storage)?;
                if record.ts >= cutoff {
                    return Ok(());
                }
                batch.delete(USERROOMPOSITION_NOTIFY, key.clone());
            }
            match page.last() {
                Some((last, _)) if page.len() == PAGE => {
                    from = last.clone();
                    from.push(0);
                }
                _ => return Ok(()),
            }
        }
    }
}

/// How long read notifications are kept for `GET /notifications`.
const NOTIFICATION_RETENTION_MS: u64 = 30 * 24 * 3600 * 1000;
