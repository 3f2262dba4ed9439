//! `PUT /_matrix/client/v3/sendToDevice/{eventType}/{txnId}`

use std::collections::BTreeMap;

use axum::{Json, extract::State};
use ruma::api::client::to_device::send_event_to_device::v3;
use serde_json::{Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma};

/// # `PUT /_matrix/client/v3/sendToDevice/{eventType}/{txnId}`
pub async fn send_event_to_device(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let body = &request.body;
    let mut messages = BTreeMap::new();
    for (user_id, devices) in &body.messages {
        let mut per_device = BTreeMap::new();
        for (device, content) in devices {
            let content: JsonValue = serde_json::from_str(content.json().get())
                .map_err(|error| ApiError::bad_json(error.to_string()))?;
            per_device.insert(device.to_string(), content);
        }
        messages.insert(user_id.clone(), per_device);
    }
    let kind = body.event_type.to_string();
    // Messages for users of other servers leave through the federation sender, which reads
    // them from the stream item this call writes.
    state
        .services
        .users
        .send_to_device(
            &identity.user_id,
            &identity.device_id,
            body.txn_id.as_str(),
            &kind,
            &messages,
        )
        .await?;
    Ok(Json(json!({})))
}
