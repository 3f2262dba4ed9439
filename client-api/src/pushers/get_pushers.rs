//! `GET /_matrix/client/v3/pushers`

use axum::{Json, extract::State};
use ruma::api::client::push::get_pushers::v3;
use serde_json::{Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma};

/// # `GET /_matrix/client/v3/pushers`
pub async fn get_pushers(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let pushers: Vec<JsonValue> = state
        .services
        .users
        .pushers(&identity.user_id)?
        .into_iter()
        .map(|pusher| {
            let mut shown = json!(pusher);
            // Internal bookkeeping, not part of the spec's pusher object.
            if let Some(shown) = shown.as_object_mut() {
                shown.remove("device_id");
                shown.remove("pushkey_ts");
            }
            shown
        })
        .collect();
    Ok(Json(json!({ "pushers": pushers })))
}
