//! `GET` and `POST /_matrix/client/v3/publicRooms`

use axum::{Json, extract::State};
use myelin_core::Error;
use ruma::api::client::directory::{get_public_rooms, get_public_rooms_filtered};
use serde_json::{Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma};

const DEFAULT_LIMIT: usize = 100;

/// Pagination tokens are offsets into the ordered list: `p{offset}`.
fn page(
    state: &AppState,
    server: Option<&ruma::ServerName>,
    search: Option<&str>,
    limit: Option<ruma::UInt>,
    since: Option<&str>,
) -> Result<JsonValue, ApiError> {
    if server.is_some_and(|server| server != state.services.rooms.server_name()) {
        return Err(Error::Unsupported(
            "Listing other servers' directories needs federation".into(),
        )
        .into());
    }
    let rooms = state.services.rooms.public_rooms(search)?;
    let limit = limit
        .map_or(DEFAULT_LIMIT, |limit| {
            usize::try_from(u64::from(limit)).unwrap_or(DEFAULT_LIMIT)
        })
        .max(1);
    let offset = match since {
        Some(token) => token
            .strip_prefix('p')
            .and_then(|number| number.parse::<usize>().ok())
            .ok_or_else(|| Error::InvalidParam("Invalid since token".into()))?,
        None => 0,
    };
    let chunk: Vec<JsonValue> = rooms
        .iter()
        .skip(offset)
        .take(limit)
        .map(|room| room.summary.clone())
        .collect();
    let mut response = json!({ "chunk": chunk, "total_room_count_estimate": rooms.len() });
    if offset + limit < rooms.len() {
        response["next_batch"] = format!("p{}", offset + limit).into();
    }
    if offset > 0 {
        response["prev_batch"] = format!("p{}", offset.saturating_sub(limit)).into();
    }
    Ok(response)
}

/// # `GET /_matrix/client/v3/publicRooms`
pub async fn get_public_rooms(
    State(state): State<AppState>,
    request: Ruma<get_public_rooms::v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let body = &request.body;
    Ok(Json(page(
        &state,
        body.server.as_deref(),
        None,
        body.limit,
        body.since.as_deref(),
    )?))
}

/// # `POST /_matrix/client/v3/publicRooms`
pub async fn get_public_rooms_filtered(
    State(state): State<AppState>,
    request: Ruma<get_public_rooms_filtered::v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    request.identity()?;
    let body = &request.body;
    Ok(Json(page(
        &state,
        body.server.as_deref(),
        body.filter.generic_search_term.as_deref(),
        body.limit,
        body.since.as_deref(),
    )?))
}
