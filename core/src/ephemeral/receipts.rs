//! Read receipts: the latest receipt per (room, type, thread, user), written durably with a
//! stream position so `/sync` picks up changes like events.

use ruma::{OwnedEventId, RoomId, UserId};

use crate::{
    error::Result,
    rooms::Rooms,
    storage::{WriteBatch, compound_key},
    stream::{Receipt, ReceiptType, StreamItem},
};

const ROOMRECEIPT_RECEIPT: &str = "roomtypethreaduser_receipt";

fn receipt_key(
    room_id: &RoomId,
    receipt_type: ReceiptType,
    thread_id: Option<&str>,
    user_id: &UserId,
) -> Vec<u8> {
    compound_key(&[
        room_id.as_bytes(),
        receipt_type.as_str().as_bytes(),
        thread_id.unwrap_or("").as_bytes(),
        user_id.as_bytes(),
    ])
}

impl Rooms {
    /// Records a receipt; the event must be in the room and readable by the user.
    pub async fn set_receipt(&self, receipt: Receipt) -> Result<()> {
        let readable_until = self.readable_until(&receipt.room_id, &receipt.user_id)?;
        let position = self.event_position(&receipt.event_id)?;
        let in_room = self
            .pdu(&receipt.event_id)?
            .is_some_and(|event| event.room() == receipt.room_id);
        if !in_room || position.is_none_or(|position| position > readable_until) {
            return Err(crate::error::Error::NotFound(
                "Event not found in this room".into(),
            ));
        }
        let pending = self.notifier().next();
        let mut batch = WriteBatch::new();
        batch.put_json(
            ROOMRECEIPT_RECEIPT,
            receipt_key(
                &receipt.room_id,
                receipt.receipt_type,
                receipt.thread_id.as_deref(),
                &receipt.user_id,
            ),
            &receipt,
        );
        if let Some(position) = position
            && receipt
                .thread_id
                .as_deref()
                .is_none_or(|thread| thread == "main")
        {
            // Notifications the user has now read are not needed for counting any more.
            self.prune_notifications(&mut batch, &receipt.room_id, &receipt.user_id, position)?;
        }
        pending.record(
            &mut batch,
            &StreamItem::Receipt {
                receipt: Box::new(receipt),
            },
        );
        self.store().commit(batch).await
    }

    /// Every current receipt of a room.
    pub fn room_receipts(&self, room_id: &RoomId) -> Result<Vec<Receipt>> {
        self.store()
            .scan_prefix(
                ROOMRECEIPT_RECEIPT,
                &compound_key(&[room_id.as_bytes(), b""]),
                usize::MAX,
            )?
            .into_iter()
            .map(|(_, value)| serde_json::from_slice(&value).map_err(crate::error::Error::storage))
            .collect()
    }

    /// The stream position of the user's latest public or private read receipt in one thread
    /// (`None`: the unthreaded receipt; `main`; or a thread root's id).
    pub(crate) fn read_receipt_position(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        thread: Option<&str>,
    ) -> Result<Option<u64>> {
        let mut best = None;
        for receipt_type in [ReceiptType::Read, ReceiptType::ReadPrivate] {
            let key = receipt_key(room_id, receipt_type, thread, user_id);
            if let Some(receipt) = self
                .store()
                .get_json::<Receipt>(ROOMRECEIPT_RECEIPT, &key)?
                && let Some(position) = self.event_position(&receipt.event_id)?
            {
                best = best.max(Some(position));
            }
        }
        Ok(best)
    }

    /// The user's latest unthreaded or main-thread read receipt event, for unread counts.
    pub fn own_read_receipt(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
    ) -> Result<Option<OwnedEventId>> {
        let mut best: Option<(u64, OwnedEventId)> = None;
        for receipt_type in [ReceiptType::Read, ReceiptType::ReadPrivate] {
            for thread in [None, Some("main")] {
                let key = receipt_key(room_id, receipt_type, thread, user_id);
                if let Some(receipt) = self
                    .store()
                    .get_json::<Receipt>(ROOMRECEIPT_RECEIPT, &key)?
                    && let Some(position) = self.event_position(&receipt.event_id)?
                    && best
                        .as_ref()
                        .is_none_or(|(best_position, _)| position > *best_position)
                {
                    best = Some((position, receipt.event_id));
                }
            }
        }
        Ok(best.map(|(_, event_id)| event_id))
    }
}
