//! `PUT /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}`

use axum::{
    extract::{RawQuery, State},
    response::IntoResponse,
};
use myelin_core::rooms::{EventSpec, Transaction};
use ruma::api::client::message::send_message_event::v3;

use crate::{ApiError, AppState, Ruma, RumaResponse};

/// # `PUT /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}`
///
/// The same transaction id from the same device returns the first event id again.
pub async fn send_message_event(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    request: Ruma<v3::Request>,
) -> Result<axum::response::Response, ApiError> {
    let identity = request.identity()?;
    // Suspended accounts may read and leave, not act (spec 1.18).
    state
        .services
        .users
        .check_not_suspended(&identity.user_id)?;
    state.check_message_rate(identity)?;
    let body = &request.body;
    let content = request
        .json
        .clone()
        .filter(|json| json.is_object())
        .ok_or_else(|| ApiError::bad_json("Event content must be a JSON object"))?;
    // A redaction sent as an event (spec v1.18, MSC4169) is a redaction like one through
    // `/redact`: `redacts` in its content names the event, checked the same way.
    let redacts = if body.event_type.to_string() == "m.room.redaction" {
        let target = content
            .get("redacts")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| {
                ApiError::Core(myelin_core::Error::MissingParam(
                    "A redaction needs the event it redacts in content.redacts".into(),
                ))
            })?;
        Some(ruma::OwnedEventId::try_from(target).map_err(|error| {
            ApiError::Core(myelin_core::Error::InvalidParam(format!(
                "content.redacts is not an event id: {error}"
            )))
        })?)
    } else {
        None
    };
    if let Some(event_id) = state.shadow_banned_event(identity) {
        return Ok(RumaResponse(v3::Response::new(event_id)).into_response());
    }
    // `?org.matrix.msc4140.delay=`: scheduled, answered with a delay id (MSC4140).
    if let Some(delay) = crate::delayed::requested_delay(query.as_deref())? {
        let kind = body.event_type.to_string();
        return crate::delayed::schedule(
            &state,
            identity,
            &body.room_id,
            &kind,
            None,
            content,
            delay,
        )
        .await
        .map(IntoResponse::into_response);
    }
    let mut spec = EventSpec::message(body.event_type.to_string(), content);
    spec.redacts = redacts;
    // Timestamp massaging (`?ts=`) is for appservices only; others get the server's clock.
    if identity.appservice_id.is_some() {
        spec.timestamp = body.timestamp.map(|ts| u64::from(ts.0));
    }
    let transaction = Transaction {
        device_id: &identity.device_id,
        txn_id: body.txn_id.as_str(),
    };
    let event_id = state
        .services
        .rooms
        .send(&body.room_id, &identity.user_id, spec, Some(transaction))
        .await?;
    Ok(RumaResponse(v3::Response::new(event_id)).into_response())
}
