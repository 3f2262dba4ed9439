//! Sliding sync extensions: to-device messages, E2EE counts and device lists, account data,
//! receipts and typing. Room-scoped ones cover the rooms the lists and subscriptions selected.

use std::collections::BTreeSet;

use myelin_core::{
    ephemeral::{Receipt, ReceiptType},
    rooms::Membership,
};
use ruma::{OwnedRoomId, api::client::sync::sync_events::v5::request};
use serde_json::{Map, Value as JsonValue, json};

use super::Context;
use crate::{ApiError, sync::render::receipt_event};

/// A selected room as the extensions see it.
pub(super) struct Selected {
    pub room_id: OwnedRoomId,
    pub membership: Membership,
    /// Sent whole in this response: its receipts and account data go whole too.
    pub fresh: bool,
}

/// The `extensions` object and whether it carries anything new (counts alone are not news).
pub(super) fn extensions(
    context: &Context<'_>,
    asked: &request::Extensions,
    selected: &[Selected],
) -> Result<(JsonValue, bool), ApiError> {
    let state = context.state;
    let identity = context.identity;
    let users = &state.services.users;
    let mut out = Map::new();
    let mut news = false;
    if asked.to_device.enabled == Some(true) {
        let events =
            users.to_device_messages(&identity.user_id, &identity.device_id, context.now)?;
        news |= !events.is_empty();
        out.insert(
            "to_device".into(),
            json!({ "next_batch": context.now.to_string(), "events": events }),
        );
    }
    if asked.e2ee.enabled == Some(true) {
        let device_lists = match context.since {
            Some(_) => state.services.rooms.device_list_changes(
                &identity.user_id,
                context.changes.device_key_users.clone(),
                &context.changes.room_events,
            )?,
            None => Default::default(),
        };
        news |= !device_lists.changed.is_empty() || !device_lists.left.is_empty();
        out.insert(
            "e2ee".into(),
            json!({
                "device_lists": { "changed": device_lists.changed, "left": device_lists.left },
                "device_one_time_keys_count": users.one_time_key_counts(&identity.user_id, &identity.device_id)?,
                "device_unused_fallback_key_types": users.unused_fallback_key_types(&identity.user_id, &identity.device_id)?,
            }),
        );
    }
    if asked.account_data.enabled == Some(true) {
        let changed = |room: Option<&OwnedRoomId>, kind: &str| {
            context
                .changes
                .account_data
                .contains(&(room.cloned(), kind.to_owned()))
        };
        // Read only where something may be new: everything on a new session or for a room sent
        // whole, otherwise only where the stream names a change.
        let global_changed = context.since.is_none()
            || context
                .changes
                .account_data
                .iter()
                .any(|(room, _)| room.is_none());
        let global: Vec<JsonValue> = if global_changed {
            users
                .all_account_data(&identity.user_id, None)?
                .into_iter()
                .filter(|(kind, content)| {
                    (context.since.is_none() && !crate::account_data::delete::is_deleted(content))
                        || changed(None, kind)
                })
                .map(|(kind, content)| json!({ "type": kind, "content": content }))
                .collect()
        } else {
            Vec::new()
        };
        let mut rooms = Map::new();
        for room in selected.iter().filter(|room| {
            room.fresh
                || context
                    .changes
                    .account_data
                    .iter()
                    .any(|(changed_room, _)| changed_room.as_ref() == Some(&room.room_id))
        }) {
            let events: Vec<JsonValue> = users
                .all_account_data(&identity.user_id, Some(&room.room_id))?
                .into_iter()
                .filter(|(kind, content)| {
                    (room.fresh && !crate::account_data::delete::is_deleted(content))
                        || changed(Some(&room.room_id), kind)
                })
                .map(|(kind, content)| json!({ "type": kind, "content": content }))
                .collect();
            if !events.is_empty() {
                rooms.insert(room.room_id.to_string(), events.into());
            }
        }
        news |= !global.is_empty() || !rooms.is_empty();
        out.insert(
            "account_data".into(),
            json!({ "global": global, "rooms": rooms }),
        );
    }
    if asked.receipts.enabled == Some(true) {
        let mut rooms = Map::new();
        for room in selected
            .iter()
            .filter(|room| room.membership == Membership::Join)
        {
            let receipts: Vec<Receipt> = if room.fresh {
                state
                    .services
                    .rooms
                    .room_receipts(&room.room_id)?
                    .into_iter()
                    .filter(|receipt| {
                        receipt.receipt_type == ReceiptType::Read
                            || receipt.user_id == identity.user_id
                    })
                    .collect()
            } else {
                context
                    .changes
                    .receipts
                    .get(&room.room_id)
                    .cloned()
                    .unwrap_or_default()
            };
            if !receipts.is_empty() {
                rooms.insert(room.room_id.to_string(), receipt_event(&receipts));
            }
        }
        news |= !rooms.is_empty();
        out.insert("receipts".into(), json!({ "rooms": rooms }));
    }
    if asked.thread_subscriptions.enabled == Some(true) {
        // MSC4308: the thread subscription changes since the last response (the newest ones
        // on a new session), newest first up to the limit; `prev_batch` pages further back
        // through the companion endpoint.
        let limit = asked
            .thread_subscriptions
            .limit
            .map_or(100, |limit| {
                usize::try_from(u64::from(limit)).unwrap_or(100)
            })
            .clamp(1, 1000);
        let (changes, more) = state.services.rooms.thread_subscription_changes(
            &identity.user_id,
            context.since.unwrap_or(0),
            context.now,
            limit,
        )?;
        if !changes.is_empty() || context.since.is_none() {
            let (subscribed, unsubscribed) =
                crate::relations::thread_subscriptions::shape_changes(&changes);
            let mut extension = json!({ "subscribed": subscribed, "unsubscribed": unsubscribed });
            if more && let Some(oldest) = changes.last() {
                extension["prev_batch"] = oldest.bump_stamp.to_string().into();
            }
            news |= !changes.is_empty();
            out.insert("io.element.msc4308.thread_subscriptions".into(), extension);
        }
    }
    if asked.typing.enabled == Some(true) {
        let typing = &state.services.typing;
        let changed: BTreeSet<OwnedRoomId> = match context.ephemeral_since {
            Some(since) => typing.rooms_changed_since(since).into_iter().collect(),
            None => typing.rooms_with_typists().into_iter().collect(),
        };
        let mut rooms = Map::new();
        for room in selected.iter().filter(|room| {
            room.membership == Membership::Join
                && (changed.contains(&room.room_id) || (room.fresh && context.since.is_some()))
        }) {
            let users = typing.typing_users(&room.room_id);
            if users.is_empty() && !changed.contains(&room.room_id) {
                continue;
            }
            rooms.insert(
                room.room_id.to_string(),
                json!({ "type": "m.typing", "content": { "user_ids": users } }),
            );
        }
        news |= !rooms.is_empty();
        out.insert("typing".into(), json!({ "rooms": rooms }));
    }
    Ok((JsonValue::Object(out), news))
}
