//! `POST /_matrix/client/v3/rooms/{roomId}/receipt/{receiptType}/{eventId}`

use axum::extract::State;
use myelin_core::{
    Error,
    ephemeral::{Receipt, ReceiptType},
    users::now_ms,
};
use ruma::api::client::receipt::create_receipt::v3::{self, ReceiptType as ApiReceiptType};

use crate::{ApiError, AppState, Ruma, RumaResponse};

/// # `POST /_matrix/client/v3/rooms/{roomId}/receipt/{receiptType}/{eventId}`
///
/// `m.fully_read` is accepted here too, as the spec allows, and sets the read marker.
pub async fn create_receipt(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<RumaResponse<v3::Response>, ApiError> {
    let identity = request.identity()?;
    let body = &request.body;
    let receipt_type = match body.receipt_type {
        ApiReceiptType::Read => ReceiptType::Read,
        ApiReceiptType::ReadPrivate => ReceiptType::ReadPrivate,
        ApiReceiptType::FullyRead => {
            super::set_read_marker::set_fully_read(
                &state,
                &identity.user_id,
                &body.room_id,
                &body.event_id,
            )
            .await?;
            return Ok(RumaResponse(v3::Response::new()));
        }
        _ => return Err(Error::InvalidParam("Unknown receipt type".into()).into()),
    };
    let thread_id = body.thread.as_str().map(str::to_owned);
    let receipt = Receipt {
        room_id: body.room_id.clone(),
        user_id: identity.user_id.clone(),
        receipt_type,
        thread_id,
        event_id: body.event_id.clone(),
        ts: now_ms(),
    };
    state.services.rooms.set_receipt(receipt).await?;
    Ok(RumaResponse(v3::Response::new()))
}
