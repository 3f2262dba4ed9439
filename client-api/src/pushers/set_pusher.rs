//! `POST /_matrix/client/v3/pushers/set`

use axum::{Json, extract::State};
use myelin_core::{Error, users::Pusher};
use ruma::api::client::push::set_pusher::v3;
use serde_json::{Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma};

/// # `POST /_matrix/client/v3/pushers/set`
///
/// `kind: null` removes the pusher; anything else registers it (HTTP pushers only: this server
/// sends no email). Unless `append` is true, the same pushkey registered by other users is
/// removed.
pub async fn set_pusher(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let body = request
        .json
        .as_ref()
        .ok_or_else(|| ApiError::bad_json("A JSON body is required"))?;
    let text = |field: &str| -> Result<String, ApiError> {
        body.get(field)
            .and_then(JsonValue::as_str)
            .map(str::to_owned)
            .ok_or_else(|| Error::MissingParam(format!("{field} is required")).into())
    };
    let users = &state.services.users;
    if body.get("kind").is_none_or(JsonValue::is_null) {
        users
            .remove_pusher(&identity.user_id, &text("app_id")?, &text("pushkey")?)
            .await?;
        return Ok(Json(json!({})));
    }
    let pusher = Pusher {
        pushkey: text("pushkey")?,
        kind: text("kind")?,
        app_id: text("app_id")?,
        app_display_name: text("app_display_name")?,
        device_display_name: text("device_display_name")?,
        profile_tag: body
            .get("profile_tag")
            .and_then(JsonValue::as_str)
            .map(str::to_owned),
        lang: text("lang")?,
        data: body
            .get("data")
            .filter(|data| data.is_object())
            .cloned()
            .ok_or_else(|| Error::MissingParam("data is required".into()))?,
        pushkey_ts: 0,
        device_id: None,
    };
    let append = body
        .get("append")
        .and_then(JsonValue::as_bool)
        .unwrap_or(false);
    users
        .set_pusher(&identity.user_id, &identity.device_id, pusher, append)
        .await?;
    Ok(Json(json!({})))
}
