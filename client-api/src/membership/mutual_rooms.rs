//! `GET /_matrix/client/v1/mutual_rooms`

use axum::{Json, extract::State};
use myelin_core::Error;
use ruma::api::client::membership::get_mutual_rooms::v1;
use serde_json::{Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma};

/// # `GET /_matrix/client/v1/mutual_rooms`
///
/// Every joined room the caller shares with the user, in one batch (so any `from` is unknown).
pub async fn mutual_rooms(
    State(state): State<AppState>,
    request: Ruma<v1::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let body = &request.body;
    if body.user_id == identity.user_id {
        return Err(
            Error::InvalidParam("You cannot ask for rooms shared with yourself".into()).into(),
        );
    }
    if body.from.is_some() {
        return Err(Error::InvalidParam("Unknown batch token".into()).into());
    }
    let rooms = &state.services.rooms;
    let theirs = rooms.joined_rooms(&body.user_id)?;
    let joined: Vec<_> = rooms
        .joined_rooms(&identity.user_id)?
        .into_iter()
        .filter(|room| theirs.contains(room))
        .collect();
    Ok(Json(json!({ "count": joined.len(), "joined": joined })))
}
