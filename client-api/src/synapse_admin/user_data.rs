//! What a user keeps on the server, for administrators: `GET
//! /_synapse/admin/v1/users/{userId}/pushers` and `…/accountdata`.

use axum::{Json, extract::State};
use serde_json::{Value as JsonValue, json};

use super::{endpoints, local_account, require_admin};
use crate::{ApiError, AppState, Ruma};

/// # `GET /_synapse/admin/v1/users/{userId}/pushers`
pub async fn list_pushers(
    State(state): State<AppState>,
    request: Ruma<endpoints::list_pushers::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let user_id = &request.body.user_id;
    local_account(&state, user_id)?;
    let pushers: Vec<JsonValue> = state
        .services
        .users
        .pushers(user_id)?
        .into_iter()
        .map(|pusher| {
            json!({
                "app_display_name": pusher.app_display_name,
                "app_id": pusher.app_id,
                "data": pusher.data,
                "device_display_name": pusher.device_display_name,
                "kind": pusher.kind,
                "lang": pusher.lang,
                "profile_tag": pusher.profile_tag.unwrap_or_default(),
                "pushkey": pusher.pushkey,
            })
        })
        .collect();
    Ok(Json(json!({ "total": pushers.len(), "pushers": pushers })))
}

/// # `GET /_synapse/admin/v1/users/{userId}/accountdata`
pub async fn account_data(
    State(state): State<AppState>,
    request: Ruma<endpoints::account_data::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let user_id = &request.body.user_id;
    local_account(&state, user_id)?;
    let (global, rooms) = state.services.users.account_data_everywhere(user_id)?;
    Ok(Json(
        json!({ "account_data": { "global": global, "rooms": rooms } }),
    ))
}
