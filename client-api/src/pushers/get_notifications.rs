//! `GET /_matrix/client/v3/notifications`

use axum::{Json, extract::State};
use myelin_core::Error;
use ruma::api::client::push::get_notifications::v3;
use serde_json::{Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma};

/// Default and largest page (Synapse's defaults are the same order).
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 1000;

/// # `GET /_matrix/client/v3/notifications`
///
/// Events that notified the caller, newest first; `next_token` pages further back.
pub async fn get_notifications(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let body = &request.body;
    let before = body
        .from
        .as_deref()
        .map(|from| {
            from.parse::<u64>()
                .map_err(|_| Error::InvalidParam(format!("Bad from token {from}")))
        })
        .transpose()?;
    let limit = body
        .limit
        .map_or(DEFAULT_LIMIT, |limit| u64::from(limit) as usize)
        .clamp(1, MAX_LIMIT);
    let only_highlight = body.only.as_deref() == Some("highlight");
    let rooms = &state.services.rooms;
    let listed = rooms.notifications(&identity.user_id, before, limit, only_highlight)?;
    let mut notifications = Vec::with_capacity(listed.len());
    for entry in &listed {
        let Some(pdu) = rooms.pdu(&entry.notification.event_id)? else {
            continue;
        };
        notifications.push(json!({
            "actions": entry.notification.actions,
            "event": pdu.to_client_event(true),
            "read": entry.read,
            "room_id": entry.notification.room_id,
            "ts": entry.notification.ts,
        }));
    }
    let mut answer = json!({ "notifications": notifications });
    if listed.len() == limit
        && let Some(last) = listed.last()
    {
        answer["next_token"] = last.position.to_string().into();
    }
    Ok(Json(answer))
}
