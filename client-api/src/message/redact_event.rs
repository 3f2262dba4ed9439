//! `PUT /_matrix/client/v3/rooms/{roomId}/redact/{eventId}/{txnId}`

use axum::extract::State;
use myelin_core::rooms::{EventSpec, Transaction};
use ruma::api::client::redact::redact_event::v3;

use crate::{ApiError, AppState, Ruma, RumaResponse};

/// # `PUT /_matrix/client/v3/rooms/{roomId}/redact/{eventId}/{txnId}`
pub async fn redact_event(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<RumaResponse<v3::Response>, ApiError> {
    let identity = request.identity()?;
    state.check_message_rate(identity)?;
    if let Some(event_id) = state.shadow_banned_event(identity) {
        return Ok(RumaResponse(v3::Response::new(event_id)));
    }
    let body = &request.body;
    let spec = EventSpec::redaction(&body.event_id, body.reason.as_deref());
    let transaction = Transaction {
        device_id: &identity.device_id,
        txn_id: body.txn_id.as_str(),
    };
    let event_id = state
        .services
        .rooms
        .send(&body.room_id, &identity.user_id, spec, Some(transaction))
        .await?;
    Ok(RumaResponse(v3::Response::new(event_id)))
}
