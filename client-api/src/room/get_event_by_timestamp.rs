//! `GET /_matrix/client/v1/rooms/{roomId}/timestamp_to_event`

use axum::extract::State;
use myelin_core::{Error, rooms::Direction};
use ruma::api::{Direction as ApiDirection, client::room::get_event_by_timestamp::v1};

use crate::{ApiError, AppState, Ruma, RumaResponse};

/// # `GET /_matrix/client/v1/rooms/{roomId}/timestamp_to_event`
pub async fn get_event_by_timestamp(
    State(state): State<AppState>,
    request: Ruma<v1::Request>,
) -> Result<RumaResponse<v1::Response>, ApiError> {
    let identity = request.identity()?;
    let body = &request.body;
    let direction = match body.dir {
        ApiDirection::Forward => Direction::Forward,
        ApiDirection::Backward => Direction::Backward,
    };
    let event = state
        .services
        .rooms
        .event_at_timestamp(
            &body.room_id,
            &identity.user_id,
            u64::from(body.ts.0),
            direction,
        )?
        .ok_or_else(|| Error::NotFound("No event found in that direction".into()))?;
    Ok(RumaResponse(v1::Response::new(
        event.event_id.clone(),
        event.origin_server_ts,
    )))
}
