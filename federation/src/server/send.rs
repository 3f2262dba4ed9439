//! # `PUT /_matrix/federation/v1/send/{txnId}`: inbound transactions. Idempotent per origin and
//! transaction id; PDUs are handled in order, each with its own result; EDUs update typing,
//! receipts and presence of the origin's users.

use std::collections::BTreeMap;

use axum::extract::State;
use myelin_core::{
    Error,
    ephemeral::{Receipt, ReceiptType},
    storage::{WriteBatch, compound_key},
    stream::Deferred,
    users::now_ms,
};
use ruma::{
    EventId, OwnedEventId, OwnedRoomId, RoomId, ServerName, UserId,
    api::federation::transactions::send_transaction_message,
};
use serde_json::Value as JsonValue;

use super::{FedResult, RumaResponse, Signed};
use crate::Federation;

const ORIGINTXN_RESULT: &str = "origintxnid_result";
const MAX_PDUS: usize = 50;
const MAX_EDUS: usize = 100;

pub async fn send_transaction(
    State(state): State<super::State>,
    request: Signed<send_transaction_message::v1::Request>,
) -> FedResult<RumaResponse<send_transaction_message::v1::Response>> {
    let origin = request.origin;
    let body = request.body;
    if body.origin != origin {
        return Err(
            Error::Forbidden("The transaction's origin is not the signing server".into()).into(),
        );
    }
    if body.pdus.len() > MAX_PDUS || body.edus.len() > MAX_EDUS {
        return Err(Error::TooLarge(format!(
            "A transaction carries at most {MAX_PDUS} PDUs and {MAX_EDUS} EDUs"
        ))
        .into());
    }
    let key = compound_key(&[origin.as_bytes(), body.transaction_id.as_bytes()]);
    if let Some(results) = state
        .services
        .store
        .get_json::<BTreeMap<OwnedEventId, Result<(), String>>>(ORIGINTXN_RESULT, &key)?
    {
        return Ok(RumaResponse(send_transaction_message::v1::Response::new(
            results,
        )));
    }

    // The PDUs are written lazily and covered by the final durable commit; until then, their
    // stream positions stay unreadable (no client sees an event a crash could take back).
    let notifier = std::sync::Arc::clone(&state.services.notifier);
    let deferred = notifier.defer();
    let answer = place_and_answer(state, origin, body, key, &deferred).await;
    drop(deferred);
    answer
}

/// Places the PDUs, handles the EDUs and records the answer durably.
async fn place_and_answer(
    state: super::State,
    origin: ruma::OwnedServerName,
    body: send_transaction_message::v1::Request,
    key: Vec<u8>,
    deferred: &Deferred<'_>,
) -> FedResult<RumaResponse<send_transaction_message::v1::Response>> {
    // PDUs grouped by room in their order; each room's are checked (hashes, signatures) in
    // parallel first, then placed one by one.
    let mut by_room: Vec<(OwnedRoomId, Vec<JsonValue>)> = Vec::new();
    for raw in &body.pdus {
        let Ok(value) = serde_json::from_str::<JsonValue>(raw.get()) else {
            continue;
        };
        let Some(room_id) = value
            .get("room_id")
            .and_then(JsonValue::as_str)
            .and_then(|id| RoomId::parse(id).ok())
        else {
            tracing::info!(%origin, "dropping a PDU without a room id");
            continue;
        };
        match by_room.iter_mut().find(|(room, _)| *room == room_id) {
            Some((_, values)) => values.push(value),
            None => by_room.push((room_id, vec![value])),
        }
    }
    let mut results = BTreeMap::new();
    let counters = &state.services.metrics.federation;
    for (room_id, values) in by_room {
        let rules = match state.room_rules(&room_id) {
            Ok(rules) => rules,
            Err(error) => {
                // A room known only through a local user's invite or knock: the room may end
                // it (a rescinded invite) without this server being in the room.
                if let Ok(Some(version)) = state.services.rooms.remote_room_version(&room_id)
                    && let Some(rules) = version.rules()
                {
                    for checked in state.check_pdus(&values, &rules).await {
                        let taken = match checked {
                            Ok(event) => state.services.rooms.end_remote_membership(&event).await,
                            Err(error) => Err(error),
                        };
                        let counter = match taken {
                            Ok(true) => &counters.pdus_accepted,
                            _ => &counters.pdus_refused,
                        };
                        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    continue;
                }
                tracing::info!(%origin, %room_id, %error, "PDUs for a room this server does not know");
                counters
                    .pdus_refused
                    .fetch_add(values.len() as u64, std::sync::atomic::Ordering::Relaxed);
                continue;
            }
        };
        let checked = state.check_pdus(&values, &rules).await;
        for (value, checked) in values.iter().zip(checked) {
            let outcome = match checked {
                Ok(event) => {
                    state
                        .handle_checked(deferred, &origin, &room_id, event, &rules, 0)
                        .await
                }
                Err(error) => Err(error),
            };
            match outcome {
                Ok((event_id, outcome)) => {
                    let counter = match outcome {
                        myelin_core::rooms::IngestOutcome::SoftFailed => &counters.pdus_soft_failed,
                        myelin_core::rooms::IngestOutcome::AlreadyKnown => &counters.pdus_known,
                        _ => &counters.pdus_accepted,
                    };
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    results.insert(event_id, Ok(()));
                }
                Err(error) => {
                    counters
                        .pdus_refused
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::info!(%origin, %room_id, %error, "refused a PDU");
                    if let Some(event_id) = pdu_event_id(&state, &room_id, value) {
                        results.insert(event_id, Err(error.to_string()));
                    }
                }
            }
        }
    }
    // EDUs may name the transaction's own events (a receipt for the last message): those are
    // made durable and readable first, as Synapse handles PDUs before EDUs.
    if !body.edus.is_empty() && !results.is_empty() {
        deferred.release(&state.services.store).await?;
    }
    for raw in &body.edus {
        let edu: JsonValue = match serde_json::from_str(raw.json().get()) {
            Ok(edu) => edu,
            Err(_) => continue,
        };
        if let Err(error) = handle_edu(&state, &origin, &edu).await {
            tracing::debug!(%origin, %error, "ignored an EDU");
        }
    }
    let mut batch = WriteBatch::new();
    batch.put_json(ORIGINTXN_RESULT, key, &results);
    state.services.store.commit(batch).await?;
    Ok(RumaResponse(send_transaction_message::v1::Response::new(
        results,
    )))
}

/// The id a refused PDU would have had, for its error entry.
fn pdu_event_id(state: &Federation, room_id: &RoomId, value: &JsonValue) -> Option<OwnedEventId> {
    let rules = state.room_rules(room_id).ok()?;
    let mut object: ruma::CanonicalJsonObject = serde_json::from_value(value.clone()).ok()?;
    if rules.event_id_format != ruma::room_version_rules::EventIdFormatVersion::V1 {
        object.remove("event_id");
    }
    object.remove("unsigned");
    myelin_core::rooms::event_id_of(&object, &rules).ok()
}

/// Whether `user` belongs to `origin` and is joined to the room.
fn member_of_origin(
    state: &Federation,
    origin: &ServerName,
    room_id: &RoomId,
    user: &UserId,
) -> bool {
    user.server_name() == origin
        && state
            .services
            .rooms
            .is_joined(room_id, user)
            .unwrap_or(false)
}

async fn handle_edu(
    state: &Federation,
    origin: &ServerName,
    edu: &JsonValue,
) -> myelin_core::Result<()> {
    let content = edu.get("content").cloned().unwrap_or_default();
    state.services.metrics.federation.edu_received(
        edu.get("edu_type")
            .and_then(JsonValue::as_str)
            .unwrap_or_default(),
    );
    match edu.get("edu_type").and_then(JsonValue::as_str) {
        Some("m.typing") => {
            let room_id = parse::<OwnedRoomId>(content.get("room_id"))?;
            let user_id = parse::<ruma::OwnedUserId>(content.get("user_id"))?;
            if !member_of_origin(state, origin, &room_id, &user_id) {
                return Err(Error::Forbidden(
                    "typing for a user the origin does not own".into(),
                ));
            }
            let typing = content
                .get("typing")
                .and_then(JsonValue::as_bool)
                .unwrap_or(false);
            // Synapse's federation typing timeout.
            let timeout = typing.then_some(std::time::Duration::from_secs(30));
            state.services.typing.set(&room_id, &user_id, timeout);
        }
        Some("m.receipt") => {
            let Some(rooms) = content.as_object() else {
                return Ok(());
            };
            for (room_id, receipts) in rooms {
                let Ok(room_id) = RoomId::parse(room_id) else {
                    continue;
                };
                let Some(read) = receipts.get("m.read").and_then(JsonValue::as_object) else {
                    continue;
                };
                for (user_id, receipt) in read {
                    let Ok(user_id) = UserId::parse(user_id) else {
                        continue;
                    };
                    if !member_of_origin(state, origin, &room_id, &user_id) {
                        continue;
                    }
                    let Some(event_id) = receipt
                        .get("event_ids")
                        .and_then(JsonValue::as_array)
                        .and_then(|ids| ids.last())
                        .and_then(JsonValue::as_str)
                        .and_then(|id| EventId::parse(id).ok())
                    else {
                        continue;
                    };
                    let data = receipt.get("data");
                    let receipt = Receipt {
                        room_id: room_id.clone(),
                        user_id,
                        receipt_type: ReceiptType::Read,
                        thread_id: data
                            .and_then(|data| data.get("thread_id"))
                            .and_then(JsonValue::as_str)
                            .map(str::to_owned),
                        event_id,
                        ts: data
                            .and_then(|data| data.get("ts"))
                            .and_then(JsonValue::as_u64)
                            .unwrap_or_else(now_ms),
                    };
                    if let Err(error) = state.services.rooms.set_receipt(receipt).await {
                        tracing::debug!(%error, "ignored a remote receipt");
                    }
                }
            }
        }
        Some("m.presence") => {
            let updates = content
                .get("push")
                .and_then(JsonValue::as_array)
                .cloned()
                .unwrap_or_default();
            for update in updates {
                let Ok(user_id) = parse::<ruma::OwnedUserId>(update.get("user_id")) else {
                    continue;
                };
                if user_id.server_name() != origin {
                    continue;
                }
                let Some(presence) = update
                    .get("presence")
                    .and_then(JsonValue::as_str)
                    .and_then(myelin_core::ephemeral::PresenceState::parse)
                else {
                    continue;
                };
                let status = update
                    .get("status_msg")
                    .and_then(JsonValue::as_str)
                    .map(str::to_owned);
                state
                    .services
                    .presence
                    .set(&user_id, presence, status)
                    .await?;
            }
        }
        // Clients re-query the keys of users whose devices or cross-signing keys changed; we
        // proxy those queries to the user's server, so noting the change is all there is to do.
        Some("m.device_list_update" | "m.signing_key_update") => {
            let user_id = parse::<ruma::OwnedUserId>(content.get("user_id"))?;
            if user_id.server_name() != origin {
                return Err(Error::Forbidden(
                    "a key update for a user the origin does not own".into(),
                ));
            }
            state
                .services
                .users
                .note_remote_device_change(&user_id)
                .await?;
        }
        Some("m.direct_to_device") => {
            let sender = parse::<ruma::OwnedUserId>(content.get("sender"))?;
            if sender.server_name() != origin {
                return Err(Error::Forbidden(
                    "to-device messages from a user the origin does not own".into(),
                ));
            }
            let kind = content
                .get("type")
                .and_then(JsonValue::as_str)
                .unwrap_or_default()
                .to_owned();
            let message_id = content
                .get("message_id")
                .and_then(JsonValue::as_str)
                .unwrap_or_default()
                .to_owned();
            let messages: BTreeMap<ruma::OwnedUserId, BTreeMap<String, JsonValue>> =
                parse(content.get("messages"))?;
            let local: BTreeMap<_, _> = messages
                .into_iter()
                .filter(|(user, _)| state.services.users.is_local(user))
                .collect();
            // The origin's server name stands in for the sending device in the dedupe key.
            state
                .services
                .users
                .send_to_device(&sender, origin.as_str().into(), &message_id, &kind, &local)
                .await?;
        }
        Some(other) => {
            tracing::debug!(edu_type = other, "EDU type not handled");
        }
        None => {}
    }
    Ok(())
}

fn parse<T: serde::de::DeserializeOwned>(value: Option<&JsonValue>) -> myelin_core::Result<T> {
    value
        .cloned()
        .and_then(|value| serde_json::from_value(value).ok())
        .ok_or_else(|| Error::BadJson("EDU field missing or invalid".into()))
}
