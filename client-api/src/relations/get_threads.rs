//! `GET /_matrix/client/v1/rooms/{roomId}/threads`

use axum::{Json, extract::State};
use ruma::api::client::threads::get_threads::v1::{self, IncludeThreads};
use serde_json::{Value as JsonValue, json};

use crate::{
    ApiError, AppState, Ruma,
    room::{client_event, format_token, parse_token},
};

/// # `GET /_matrix/client/v1/rooms/{roomId}/threads`
pub async fn get_threads(
    State(state): State<AppState>,
    request: Ruma<v1::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let body = &request.body;
    let rooms = &state.services.rooms;
    let readable_until = rooms.readable_until(&body.room_id, &identity.user_id)?;
    let before = body
        .from
        .as_deref()
        .map(parse_token)
        .transpose()?
        .unwrap_or(readable_until)
        .min(readable_until);
    let limit = body
        .limit
        .map_or(50, |limit| usize::try_from(u64::from(limit)).unwrap_or(100))
        .clamp(1, 100);
    let participated = matches!(body.include, IncludeThreads::Participated);
    let (threads, more) = rooms.threads(
        &body.room_id,
        &identity.user_id,
        before,
        participated,
        limit,
    )?;
    let chunk: Vec<JsonValue> = threads
        .iter()
        .map(|(_, root)| client_event(&state, root, identity, true))
        .collect();
    let mut response = json!({ "chunk": chunk });
    if more && let Some((position, _)) = threads.last() {
        response["next_batch"] = format_token(position.saturating_sub(1)).into();
    }
    Ok(Json(response))
}
