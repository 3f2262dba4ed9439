//! Push delivery: hands each notification the push rules produced to every pusher of its user,
//! through the push gateway port. The queue of notifications not yet handed over is durable
//! (written with the event), so a restart resends rather than loses; a gateway that fails is
//! retried with exponential backoff, and a pushkey the gateway rejects removes its pusher.

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use ruma::{OwnedUserId, UserId, push::Action};
use serde_json::{Map, Value as JsonValue, json};
use tokio::sync::watch;

use crate::{
    Result, Services, ports::PushGateway, rooms::Notification, storage::WriteBatch, users::Pusher,
};

/// Pending notifications read at a time.
const BATCH: usize = 200;
/// First retry delay after a gateway failure; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// A notification still undelivered after this many attempts (about an hour of backoff) is
/// dropped: a phone does not want an hour-old ping (Synapse gives up after a day of failures).
const MAX_ATTEMPTS: u32 = 12;

/// Starts the delivery task; it ends when `stopped` turns true.
pub fn start(services: Services, stopped: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut watermark = services.notifier.subscribe();
        let mut stop = stopped.clone();
        loop {
            if *stop.borrow() {
                return;
            }
            if let Err(error) = deliver_pending(&services, &stopped).await {
                tracing::error!(%error, "push delivery could not read its queue");
            }
            tokio::select! {
                changed = watermark.changed() => if changed.is_err() { return },
                _ = stop.changed() => {}
            }
        }
    })
}

/// Hands every pending notification over, then forgets it.
async fn deliver_pending(services: &Services, stopped: &watch::Receiver<bool>) -> Result<()> {
    loop {
        let pending = services.rooms.pending_pushes(BATCH)?;
        if pending.is_empty() {
            return Ok(());
        }
        let mut batch = WriteBatch::new();
        for (position, user_id, notification) in &pending {
            if let Some(notification) = notification
                && let Err(error) = push(services, user_id, notification, stopped)
            {
                tracing::warn!(%error, %user_id, "cannot build a push notification");
            }
            services
                .rooms
                .clear_pending_push(&mut batch, *position, user_id);
        }
        services.store.commit_lazy(batch).await?;
    }
}

/// Sends `notification` to each pusher of the user, each in its own task with retries.
fn push(
    services: &Services,
    user_id: &UserId,
    notification: &Notification,
    stopped: &watch::Receiver<bool>,
) -> Result<()> {
    let pushers = services.users.pushers(user_id)?;
    if pushers.is_empty() {
        return Ok(());
    }
    let Some(gateway) = services.push_gateway.get() else {
        tracing::warn!("no push gateway client: notifications are not delivered");
        return Ok(());
    };
    let Some(pdu) = services.rooms.pdu(&notification.event_id)? else {
        return Ok(());
    };
    let room_id = &notification.room_id;
    let tweaks = tweaks_of(&notification.actions);
    let high_priority = pdu.kind.to_string() == "m.room.encrypted"
        || tweaks.get("highlight") == Some(&JsonValue::Bool(true))
        || tweaks.contains_key("sound");
    let sender_name = services
        .rooms
        .state_pdu(room_id, "m.room.member", pdu.sender.as_str())?
        .and_then(|member| {
            member
                .content_json()
                .get("displayname")
                .and_then(JsonValue::as_str)
                .map(str::to_owned)
        });
    let room_name = services
        .rooms
        .state_pdu(room_id, "m.room.name", "")?
        .and_then(|name| {
            name.content_json()
                .get("name")
                .and_then(JsonValue::as_str)
                .map(str::to_owned)
        });
    let counts = json!({ "unread": unread_rooms(services, user_id)? });
    for pusher in pushers {
        let Some(url) = pusher.url().map(str::to_owned) else {
            continue;
        };
        let mut body = json!({
            "event_id": pdu.event_id,
            "room_id": room_id,
            "counts": counts,
            "prio": if high_priority { "high" } else { "low" },
            "devices": [device_entry(&pusher, &tweaks)],
        });
        if pusher.data.get("format").and_then(JsonValue::as_str) != Some("event_id_only") {
            body["type"] = pdu.kind.to_string().into();
            body["sender"] = pdu.sender.to_string().into();
            body["content"] = pdu.content_json();
            if let Some(name) = &sender_name {
                body["sender_display_name"] = name.clone().into();
            }
            if let Some(name) = &room_name {
                body["room_name"] = name.clone().into();
            }
            if pdu.kind.to_string() == "m.room.member" {
                body["user_is_target"] =
                    (pdu.state_key.as_deref() == Some(user_id.as_str())).into();
            }
        }
        tokio::spawn(deliver_with_retries(
            services.clone(),
            Arc::clone(&gateway),
            user_id.to_owned(),
            pusher,
            url,
            json!({ "notification": body }),
            stopped.clone(),
        ));
    }
    Ok(())
}

/// The `devices` entry of a pusher: its ids and data (without the gateway URL) and the tweaks.
fn device_entry(pusher: &Pusher, tweaks: &Map<String, JsonValue>) -> JsonValue {
    let mut data = pusher.data.clone();
    if let Some(data) = data.as_object_mut() {
        data.remove("url");
    }
    json!({
        "app_id": pusher.app_id,
        "pushkey": pusher.pushkey,
        "pushkey_ts": pusher.pushkey_ts / 1000,
        "data": data,
        "tweaks": tweaks,
    })
}

/// The `set_tweak` actions as a map (a `highlight` tweak without a value means true).
fn tweaks_of(actions: &[Action]) -> Map<String, JsonValue> {
    let mut tweaks = Map::new();
    for action in actions {
        let Ok(JsonValue::Object(action)) = serde_json::to_value(action) else {
            continue;
        };
        if let Some(name) = action.get("set_tweak").and_then(JsonValue::as_str) {
            let value = action
                .get("value")
                .cloned()
                .unwrap_or(JsonValue::Bool(true));
            tweaks.insert(name.to_owned(), value);
        }
    }
    tweaks
}

/// The badge count: rooms with unread notifications (Synapse's default,
/// `push.group_unread_count_by_room: true`).
fn unread_rooms(services: &Services, user_id: &UserId) -> Result<u64> {
    let mut rooms = 0;
    for room_id in services.rooms.joined_rooms(user_id)? {
        if services
            .rooms
            .unread_counts(&room_id, user_id)?
            .notifications
            > 0
        {
            rooms += 1;
        }
    }
    Ok(rooms)
}

async fn deliver_with_retries(
    services: Services,
    gateway: Arc<dyn PushGateway>,
    user_id: OwnedUserId,
    pusher: Pusher,
    url: String,
    body: JsonValue,
    mut stopped: watch::Receiver<bool>,
) {
    let mut delay = FIRST_BACKOFF;
    for attempt in 1..=MAX_ATTEMPTS {
        match gateway.notify(&url, body.clone()).await {
            Ok(rejected) => {
                services
                    .metrics
                    .push
                    .delivered
                    .fetch_add(1, Ordering::Relaxed);
                if rejected.contains(&pusher.pushkey) {
                    tracing::info!(%user_id, app_id = %pusher.app_id, "gateway rejected the pushkey; removing the pusher");
                    if let Err(error) = services
                        .users
                        .remove_pusher(&user_id, &pusher.app_id, &pusher.pushkey)
                        .await
                    {
                        tracing::error!(%error, "cannot remove a rejected pusher");
                    }
                }
                return;
            }
            Err(error @ (crate::Error::Forbidden(_) | crate::Error::InvalidParam(_))) => {
                // The URL itself is refused (denied address range, unparsable): retrying
                // cannot help.
                services.metrics.push.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%error, %url, "push gateway refused by policy");
                return;
            }
            Err(error) => {
                services.metrics.push.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%error, %url, attempt, "push gateway failed; retrying");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stopped.changed() => return,
        }
        delay = (delay * 2).min(MAX_BACKOFF);
    }
    tracing::warn!(%user_id, %url, "giving up on a push notification");
}

#[cfg(test)]
mod tests {
    use ruma::push::Tweak;

    use super::*;

    #[test]
    fn tweaks_come_from_set_tweak_actions() {
        let actions = vec![
            Action::Notify,
            Action::SetTweak(Tweak::Sound("default".into())),
            Action::SetTweak(Tweak::Highlight(true.into())),
            Action::SetTweak(Tweak::Highlight(false.into())),
        ];
        let tweaks = tweaks_of(&actions);
        assert_eq!(tweaks.get("sound"), Some(&json!("default")));
        // The last highlight tweak wins, as in the rule's action list.
        assert_eq!(tweaks.get("highlight"), Some(&json!(false)));
        assert_eq!(tweaks.len(), 2);
    }
}
