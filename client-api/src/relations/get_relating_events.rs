//! `GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]]`

use axum::{Json, extract::State};
use ruma::api::client::relations::{
    get_relating_events, get_relating_events_with_rel_type,
    get_relating_events_with_rel_type_and_event_type,
};
use serde_json::Value as JsonValue;

use super::{RelationsQuery, relations_page};
use crate::{ApiError, AppState, Ruma};

/// # `GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}`
pub async fn get_relating_events(
    State(state): State<AppState>,
    request: Ruma<get_relating_events::v1::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let body = &request.body;
    let query = RelationsQuery {
        room_id: &body.room_id,
        event_id: &body.event_id,
        rel_type: None,
        event_type: None,
        from: body.from.as_deref(),
        to: body.to.as_deref(),
        dir: &body.dir,
        limit: body.limit,
    };
    relations_page(&state, request.identity()?, query)
}

/// # `GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}`
pub async fn get_relating_events_with_rel_type(
    State(state): State<AppState>,
    request: Ruma<get_relating_events_with_rel_type::v1::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let body = &request.body;
    let query = RelationsQuery {
        room_id: &body.room_id,
        event_id: &body.event_id,
        rel_type: Some(body.rel_type.to_string()),
        event_type: None,
        from: body.from.as_deref(),
        to: body.to.as_deref(),
        dir: &body.dir,
        limit: body.limit,
    };
    relations_page(&state, request.identity()?, query)
}

/// # `GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}/{eventType}`
pub async fn get_relating_events_with_rel_type_and_event_type(
    State(state): State<AppState>,
    request: Ruma<get_relating_events_with_rel_type_and_event_type::v1::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let body = &request.body;
    let query = RelationsQuery {
        room_id: &body.room_id,
        event_id: &body.event_id,
        rel_type: Some(body.rel_type.to_string()),
        event_type: Some(body.event_type.to_string()),
        from: body.from.as_deref(),
        to: body.to.as_deref(),
        dir: &body.dir,
        limit: body.limit,
    };
    relations_page(&state, request.identity()?, query)
}
