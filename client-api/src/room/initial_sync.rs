//! `GET /_matrix/client/v3/rooms/{roomId}/initialSync`: a room's state and latest messages in
//! one answer, the way clients peek into world-readable rooms (no longer deprecated since spec
//! v1.14, because peeking uses it).

use axum::{Json, extract::State};
use myelin_core::{
    ephemeral::ReceiptType,
    rooms::{Direction, Membership, PduEvent},
};
use ruma::api::client::peeking::get_current_state::v3;
use serde_json::{Value as JsonValue, json};

use crate::{
    ApiError, AppState, Ruma, filtering,
    room::{client_event, format_token},
    sync::render::receipt_event,
};

/// Synapse's page size for this endpoint (`default_limit=10`).
const MESSAGES: usize = 10;

/// # `GET /_matrix/client/v3/rooms/{roomId}/initialSync`
///
/// As Synapse answers it: for a member, the current state, the last ten events they may see,
/// the joined members' presence and the room's public receipts; for a user who left, the
/// state and events as of leaving, with no presence or receipts; for a world-readable room
/// the user is not in, the member's answer without `membership` (a peek). Everyone else gets
/// `403`, as for `/messages`. The room's account data (tags included) closes the answer.
pub async fn room_initial_sync(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let room_id = &request.body.room_id;
    let user_id = &identity.user_id;
    let rooms = &state.services.rooms;
    let readable_until = rooms.readable_until(room_id, user_id)?;
    let membership = rooms.membership(room_id, user_id)?;
    let parted = matches!(membership, Some(Membership::Leave | Membership::Ban))
        && readable_until < state.services.notifier.current();
    let peeking = membership != Some(Membership::Join) && !parted;

    let ignored = filtering::ignored_users(&state, user_id);
    let keep = |position: u64, event: &PduEvent| {
        !filtering::hidden_by_ignore(&ignored, event)
            && rooms
                .event_visible(room_id, user_id, position, membership)
                .unwrap_or(false)
    };
    let page = rooms.timeline_where(
        room_id,
        0,
        readable_until,
        Direction::Backward,
        MESSAGES,
        keep,
    )?;
    // Oldest first, as Synapse lists them; `start` pages back from before the oldest.
    let start = page
        .events
        .last()
        .map_or(readable_until, |(position, _)| position.saturating_sub(1));
    let chunk: Vec<JsonValue> = page
        .events
        .iter()
        .rev()
        .map(|(_, event)| client_event(&state, event, identity, true))
        .collect();
    let room_state = crate::state::readable_state(&state, room_id, user_id)?;
    let state_events: Vec<JsonValue> = room_state
        .iter()
        .map(|event| client_event(&state, event, identity, true))
        .collect();

    let (presence, receipts) = if parted {
        (Vec::new(), Vec::new())
    } else {
        let presence_service = &state.services.presence;
        let presence: Vec<JsonValue> = if presence_service.enabled() {
            rooms
                .joined_members(room_id)?
                .iter()
                .filter_map(|member| member.state_key.as_deref()?.try_into().ok())
                .map(|member: &ruma::UserId| {
                    json!({
                        "type": "m.presence",
                        "sender": member,
                        "content": crate::presence::content(&presence_service.status(member)),
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        // Private receipts are their owner's alone.
        let public: Vec<_> = rooms
            .room_receipts(room_id)?
            .into_iter()
            .filter(|receipt| {
                receipt.receipt_type == ReceiptType::Read || receipt.user_id == *user_id
            })
            .collect();
        let receipts = if public.is_empty() {
            Vec::new()
        } else {
            vec![receipt_event(&public)]
        };
        (presence, receipts)
    };
    let account_data: Vec<JsonValue> = state
        .services
        .users
        .all_account_data(user_id, Some(room_id))?
        .into_iter()
        .map(|(kind, content)| json!({ "type": kind, "content": content }))
        .collect();

    let mut response = json!({
        "room_id": room_id,
        "messages": {
            "chunk": chunk,
            "start": format_token(start),
            "end": format_token(readable_until),
        },
        "state": state_events,
        "presence": presence,
        "receipts": receipts,
        "account_data": account_data,
        "visibility": if rooms.is_published(room_id)? { "public" } else { "private" },
    });
    if !peeking && let Some(membership) = membership {
        response["membership"] = membership.as_str().into();
    }
    Ok(Json(response))
}
