//! Room tags (`/user/{userId}/rooms/{roomId}/tags`): kept as the room's `m.tag` account data,
//! the event clients read them from in `/sync` (`{"tags": {"m.favourite": {"order": 0.5}}}`).

use axum::{Json, extract::State};
use ruma::{
    RoomId, UserId,
    api::client::tag::{create_tag, delete_tag, get_tags},
};
use serde_json::{Map, Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma};

const TAG_EVENT: &str = "m.tag";

fn tags_of(
    state: &AppState,
    user_id: &UserId,
    room_id: &RoomId,
) -> Result<Map<String, JsonValue>, ApiError> {
    Ok(state
        .services
        .users
        .account_data(user_id, Some(room_id), TAG_EVENT)?
        .and_then(|content| content.get("tags").and_then(JsonValue::as_object).cloned())
        .unwrap_or_default())
}

/// Changes the room's tags in one read-modify-write, so concurrent changes do not lose each
/// other; nothing is written when `change` reports no change.
async fn change_tags(
    state: &AppState,
    user_id: &UserId,
    room_id: &RoomId,
    change: impl FnOnce(&mut Map<String, JsonValue>) -> bool,
) -> Result<(), ApiError> {
    state
        .services
        .users
        .update_account_data(user_id, Some(room_id), TAG_EVENT, |current| {
            let mut tags = current
                .and_then(|content| content.get("tags").and_then(JsonValue::as_object).cloned())
                .unwrap_or_default();
            change(&mut tags).then(|| json!({ "tags": tags }))
        })
        .await?;
    Ok(())
}

/// # `GET /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags`
pub async fn get_tags(
    State(state): State<AppState>,
    request: Ruma<get_tags::v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let body = &request.body;
    super::require_own(request.identity()?, &body.user_id)?;
    let tags = tags_of(&state, &body.user_id, &body.room_id)?;
    Ok(Json(json!({ "tags": tags })))
}

/// # `PUT /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags/{tag}`
///
/// The tag's content is kept as sent (`order` and any other fields), as Synapse does.
pub async fn create_tag(
    State(state): State<AppState>,
    request: Ruma<create_tag::v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let body = &request.body;
    super::require_own(request.identity()?, &body.user_id)?;
    if body.tag.is_empty() || body.tag.len() > 255 {
        return Err(ApiError::bad_json("Tag names are 1 to 255 bytes long"));
    }
    let content = super::content(request.json.clone())?;
    change_tags(&state, &body.user_id, &body.room_id, |tags| {
        tags.insert(body.tag.clone(), content);
        true
    })
    .await?;
    Ok(Json(json!({})))
}

/// # `DELETE /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags/{tag}`
///
/// Removing a tag the room does not have succeeds too (Synapse does the same).
pub async fn delete_tag(
    State(state): State<AppState>,
    request: Ruma<delete_tag::v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let body = &request.body;
    super::require_own(request.identity()?, &body.user_id)?;
    change_tags(&state, &body.user_id, &body.room_id, |tags| {
        tags.remove(&body.tag).is_some()
    })
    .await?;
    Ok(Json(json!({})))
}
