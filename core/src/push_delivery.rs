//! Push delivery: hands each notification the push rules produced to every pusher of its user,
//! through the push gateway port. The queue of notifications not yet handed over is durable
//! (written with the event), so a restart resends rather than loses; a gateway that fails is
//! retried with exponential backoff, and a pushkey the gateway rejects removes its pusher.

use std::{
    collections::HashSet,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use ruma::{OwnedUserId, UserId, push::Action};
use serde_json::{Map, Value as JsonValue, json};
use tokio::sync::watch;

use crate::{
    error::Result, follow::Backoff, ports::PushGateway, rooms::Notification, services::Services,
    storage::WriteBatch, users::Pusher,
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
    let delivery = Arc::new(Delivery {
        services: services.clone(),
        in_flight: InFlight::default(),
        stopped: stopped.clone(),
    });
    tokio::spawn(crate::follow::run(
        services.store.clone(),
        Arc::clone(&services.notifier),
        Arc::clone(&services.metrics.followers),
        delivery,
        stopped,
    ))
}

/// Push delivery as a follower of the stream: its work list is the durable queue of pending
/// notifications that persisting an event writes in the event's own batch, so each step
/// starts the deliveries the new items (and earlier failures) left there, and the driver's
/// position only says how far it looked. Each delivery retries on its own, with backoff,
/// and leaves the queue when done, so one slow gateway holds up nobody else.
struct Delivery {
    services: Services,
    in_flight: InFlight,
    stopped: watch::Receiver<bool>,
}

impl crate::follow::Follower for Delivery {
    fn name(&self) -> String {
        "push".into()
    }

    fn handle(
        &self,
        items: crate::follow::Items,
    ) -> crate::ports::BoxFuture<'_, Result<crate::follow::Handled>> {
        Box::pin(async move {
            deliver_pending(&self.services, &self.in_flight, &self.stopped).await?;
            Ok(crate::follow::Handled::reached(items.until))
        })
    }
}

/// Queue entries being delivered now (their tasks remove them when done).
type InFlight = Arc<std::sync::Mutex<HashSet<(u64, OwnedUserId)>>>;

/// Most deliveries under way at once; the rest wait in the durable queue.
const MAX_IN_FLIGHT: usize = 10_000;

/// Starts delivering every pending notification not under way yet. A queue entry is removed
/// only once its deliveries finished (delivered, refused or given up), so a restart resends
/// what was under way rather than losing it.
async fn deliver_pending(
    services: &Services,
    in_flight: &InFlight,
    stopped: &watch::Receiver<bool>,
) -> Result<()> {
    loop {
        let busy = crate::mutex::lock(in_flight).len();
        if busy >= MAX_IN_FLIGHT {
            return Ok(());
        }
        let pending = services.rooms.pending_pushes(BATCH + busy)?;
        let page_full = pending.len() == BATCH + busy;
        let mut started = 0;
        let mut batch = WriteBatch::new();
        for (position, user_id, notification) in pending {
            let key = (position, user_id.clone());
            if crate::mutex::lock(in_flight).contains(&key) {
                continue;
            }
            let deliveries = match &notification {
                Some(notification) => {
                    deliveries(services, &user_id, notification).unwrap_or_else(|error| {
                        tracing::warn!(%error, %user_id, "cannot build a push notification");
                        Vec::new()
                    })
                }
                None => Vec::new(),
            };
            let gateway = services.push_gateway.get();
            let (Some(gateway), false) = (gateway, deliveries.is_empty()) else {
                services
                    .rooms
                    .clear_pending_push(&mut batch, position, &user_id);
                continue;
            };
            crate::mutex::lock(in_flight).insert(key.clone());
            started += 1;
            let (services, in_flight, stopped) =
                (services.clone(), Arc::clone(in_flight), stopped.clone());
            tokio::spawn(async move {
                let mut finished = true;
                for (pusher, url, body) in deliveries {
                    finished &= deliver_with_retries(
                        &services,
                        gateway.as_ref(),
                        &user_id,
                        &pusher,
                        &url,
                        body,
                        stopped.clone(),
                    )
                    .await;
                }
                if finished {
                    let mut batch = WriteBatch::new();
                    services
                        .rooms
                        .clear_pending_push(&mut batch, position, &user_id);
                    if let Err(error) = services.store.commit_lazy(batch).await {
                        tracing::warn!(%error, "cannot forget a delivered push");
                    }
                }
                crate::mutex::lock(&in_flight).remove(&key);
            });
        }
        let cleared = batch.len();
        if !batch.is_empty() {
            services.store.commit_lazy(batch).await?;
        }
        // A full page that moved nothing forward would only be read again.
        if !page_full || started + cleared == 0 {
            return Ok(());
        }
    }
}

/// What to send to each pusher of the user for `notification`: the pusher, its gateway URL
/// and the request body.
fn deliveries(
    services: &Services,
    user_id: &UserId,
    notification: &Notification,
) -> Result<Vec<(Pusher, String, JsonValue)>> {
    let pushers = services.users.pushers(user_id)?;
    if pushers.is_empty() {
        return Ok(Vec::new());
    }
    let Some(pdu) = services.rooms.pdu(&notification.event_id)? else {
        return Ok(Vec::new());
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
    let mut deliveries = Vec::new();
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
        deliveries.push((pusher, url, json!({ "notification": body })));
    }
    Ok(deliveries)
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

/// Delivers one notification to one pusher, retrying with backoff. `false` when the server
/// is stopping before it finished (the queue entry then stays, to be sent after a restart).
async fn deliver_with_retries(
    services: &Services,
    gateway: &dyn PushGateway,
    user_id: &UserId,
    pusher: &Pusher,
    url: &str,
    body: JsonValue,
    mut stopped: watch::Receiver<bool>,
) -> bool {
    let mut backoff = Backoff::new(FIRST_BACKOFF, MAX_BACKOFF);
    for attempt in 1..=MAX_ATTEMPTS {
        match gateway.notify(url, body.clone()).await {
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
                        .remove_pusher(user_id, &pusher.app_id, &pusher.pushkey)
                        .await
                    {
                        tracing::error!(%error, "cannot remove a rejected pusher");
                    }
                }
                return true;
            }
            Err(
                error @ (crate::error::Error::Forbidden(_) | crate::error::Error::InvalidParam(_)),
            ) => {
                // The URL itself is refused (denied address range, unparsable): retrying
                // cannot help.
                services.metrics.push.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%error, %url, "push gateway refused by policy");
                return true;
            }
            Err(error) => {
                services.metrics.push.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%error, %url, attempt, "push gateway failed; retrying");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff.fail()) => {}
            _ = stopped.changed() => return false,
        }
    }
    tracing::warn!(%user_id, %url, "giving up on a push notification");
    true
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
