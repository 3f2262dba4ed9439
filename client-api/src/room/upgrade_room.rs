//! `POST /_matrix/client/v3/rooms/{roomId}/upgrade`

use axum::{Json, extract::State};
use ruma::api::client::room::upgrade_room::v3;
use serde_json::{Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma};

/// # `POST /_matrix/client/v3/rooms/{roomId}/upgrade`
///
/// Needs the power to send `m.room.tombstone`; unsupported versions are
/// `M_UNSUPPORTED_ROOM_VERSION`.
pub async fn upgrade_room(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let federation = state.services.federation.get().ok();
    let replacement = state
        .services
        .rooms
        .upgrade_room(
            &request.body.room_id,
            &identity.user_id,
            request.body.new_version.clone(),
            federation.as_deref(),
        )
        .await?;
    super::carry_over_push_rules(&state, &identity.user_id, &replacement).await;
    Ok(Json(json!({ "replacement_room": replacement })))
}
