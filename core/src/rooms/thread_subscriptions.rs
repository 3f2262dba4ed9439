//! Thread subscriptions (MSC4306) and their changes (MSC4308): which threads a user follows,
//! by hand or automatically (a client subscribes when the user takes part), and the
//! unsubscriptions that stop later automatic subscriptions to the same thread. Each change has
//! a stream position, its `bump_stamp`, which sliding sync and the changes endpoint page by.

use ruma::{EventId, OwnedEventId, OwnedRoomId, RoomId, UserId};
use serde::{Deserialize, Serialize};

use super::{Membership, Rooms, relations::relation_of};
use crate::{
    error::{Error, Result},
    storage::{WriteBatch, compound_key},
    stream::StreamItem,
};

/// user, room, thread root → the latest subscription change.
const USERROOMTHREAD_SUBSCRIPTION: &str = "userroomthread_subscription";
/// user, bump stamp → the room and thread root changed then.
const USERSTAMP_THREAD: &str = "userstamp_thread";

/// A subscription, or an unsubscription, of a user to a thread.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ThreadSubscription {
    pub room_id: OwnedRoomId,
    pub thread_root: OwnedEventId,
    pub subscribed: bool,
    pub automatic: bool,
    pub bump_stamp: u64,
}

/// Why a subscription request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadSubscriptionRefusal {
    /// The event given for an automatic subscription is not in the thread.
    NotInThread,
    /// The user unsubscribed after the event given for an automatic subscription.
    ConflictingUnsubscription,
}

fn key(user_id: &UserId, room_id: &RoomId, thread_root: &EventId) -> Vec<u8> {
    compound_key(&[
        user_id.as_bytes(),
        room_id.as_bytes(),
        thread_root.as_bytes(),
    ])
}

impl Rooms {
    fn thread_root_visible(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        root: &EventId,
    ) -> Result<()> {
        let readable = self.membership(room_id, user_id)? == Some(Membership::Join)
            && self.pdu(root)?.is_some_and(|event| event.room() == room_id);
        if readable {
            Ok(())
        } else {
            Err(Error::NotFound(
                "No such thread in a room you are in".into(),
            ))
        }
    }

    /// The user's subscription to a thread, when subscribed.
    pub fn thread_subscription(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        thread_root: &EventId,
    ) -> Result<Option<ThreadSubscription>> {
        self.thread_root_visible(user_id, room_id, thread_root)?;
        Ok(self
            .store()
            .get_json::<ThreadSubscription>(
                USERROOMTHREAD_SUBSCRIPTION,
                &key(user_id, room_id, thread_root),
            )?
            .filter(|subscription| subscription.subscribed))
    }

    /// Subscribes a user to a thread: by hand (`automatic` `None`), or automatically because of
    /// the event `automatic` names, which must be in the thread and must not come before an
    /// unsubscription of the user's. An automatic subscription does not replace a manual one.
    pub async fn subscribe_thread(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        thread_root: &EventId,
        automatic: Option<&EventId>,
    ) -> Result<std::result::Result<(), ThreadSubscriptionRefusal>> {
        self.thread_root_visible(user_id, room_id, thread_root)?;
        let current: Option<ThreadSubscription> = self.store().get_json(
            USERROOMTHREAD_SUBSCRIPTION,
            &key(user_id, room_id, thread_root),
        )?;
        if let Some(cause) = automatic {
            let in_thread = cause == thread_root
                || self.pdu(cause)?.is_some_and(|event| {
                    event.room() == room_id
                        && relation_of(&event).is_some_and(|(rel_type, root)| {
                            rel_type == "m.thread" && root == thread_root
                        })
                });
            if !in_thread {
                return Ok(Err(ThreadSubscriptionRefusal::NotInThread));
            }
            match &current {
                Some(existing) if existing.subscribed => return Ok(Ok(())),
                Some(existing) => {
                    let cause_position = self.event_position(cause)?.unwrap_or(0);
                    if cause_position <= existing.bump_stamp {
                        return Ok(Err(ThreadSubscriptionRefusal::ConflictingUnsubscription));
                    }
                }
                None => {}
            }
        } else if current
            .as_ref()
            .is_some_and(|existing| existing.subscribed && !existing.automatic)
        {
            return Ok(Ok(()));
        }
        self.record_thread_subscription(user_id, room_id, thread_root, true, automatic.is_some())
            .await?;
        Ok(Ok(()))
    }

    /// Unsubscribes a user from a thread; `NotFound` when not subscribed.
    pub async fn unsubscribe_thread(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        thread_root: &EventId,
    ) -> Result<()> {
        if self
            .thread_subscription(user_id, room_id, thread_root)?
            .is_none()
        {
            return Err(Error::NotFound(
                "You are not subscribed to this thread".into(),
            ));
        }
        self.record_thread_subscription(user_id, room_id, thread_root, false, false)
            .await
    }

    async fn record_thread_subscription(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        thread_root: &EventId,
        subscribed: bool,
        automatic: bool,
    ) -> Result<()> {
        let pending = self.notifier().next();
        let previous: Option<ThreadSubscription> = self.store().get_json(
            USERROOMTHREAD_SUBSCRIPTION,
            &key(user_id, room_id, thread_root),
        )?;
        let record = ThreadSubscription {
            room_id: room_id.to_owned(),
            thread_root: thread_root.to_owned(),
            subscribed,
            automatic,
            bump_stamp: pending.position,
        };
        let mut batch = WriteBatch::new();
        if let Some(previous) = previous {
            batch.delete(
                USERSTAMP_THREAD,
                compound_key(&[user_id.as_bytes(), &previous.bump_stamp.to_be_bytes()]),
            );
        }
        batch.put_json(
            USERROOMTHREAD_SUBSCRIPTION,
            key(user_id, room_id, thread_root),
            &record,
        );
        batch.put_json(
            USERSTAMP_THREAD,
            compound_key(&[user_id.as_bytes(), &record.bump_stamp.to_be_bytes()]),
            &record,
        );
        // Wakes the user's syncs (as a global account data change of a type no account data
        // has, so nothing else shows); sliding sync reads the change from the index above.
        pending.record(
            &mut batch,
            &StreamItem::AccountData {
                user_id: user_id.to_owned(),
                room_id: None,
                event_type: "io.element.msc4306.thread_subscriptions".to_owned(),
            },
        );
        self.store().commit(batch).await
    }

    /// The user's latest subscription changes with bump stamps in `(after, up_to]`, newest
    /// first, at most `limit`; and whether more are left.
    pub fn thread_subscription_changes(
        &self,
        user_id: &UserId,
        after: u64,
        up_to: u64,
        limit: usize,
    ) -> Result<(Vec<ThreadSubscription>, bool)> {
        let start = compound_key(&[user_id.as_bytes(), &(after.saturating_add(1)).to_be_bytes()]);
        let end = compound_key(&[user_id.as_bytes(), &up_to.to_be_bytes()]);
        let rows = self.store().range(
            USERSTAMP_THREAD,
            std::ops::Bound::Included(&start),
            std::ops::Bound::Included(&end),
            true,
            limit.saturating_add(1),
        )?;
        let more = rows.len() > limit;
        let changes = rows
            .into_iter()
            .take(limit)
            .map(|(_, value)| serde_json::from_slice(&value).map_err(Error::storage))
            .collect::<Result<Vec<_>>>()?;
        Ok((changes, more))
    }
}
