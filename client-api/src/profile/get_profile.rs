//! `GET /_matrix/client/v3/profile/{userId}`

use axum::{Json, extract::State};
use ruma::api::client::profile::get_profile::v3;
use serde_json::{Map, Value as JsonValue};

use crate::{ApiError, AppState, Ruma};

/// # `GET /_matrix/client/v3/profile/{userId}`
pub async fn get_profile(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<Map<String, JsonValue>>, ApiError> {
    let user_id = &request.body.user_id;
    if !state.services.users.is_local(user_id) {
        let profile = state
            .services
            .federation
            .get()?
            .query_profile(user_id, None)
            .await?;
        return match profile {
            JsonValue::Object(map) => Ok(Json(map)),
            _ => Ok(Json(Map::new())),
        };
    }
    let users = &state.services.users;
    if users.account(user_id)?.is_none()
        && let Some(queries) = state.services.appservice_queries.get()
    {
        // A user in an appservice's namespace may exist on the bridged side: ask, so the
        // appservice can register the ghost before its profile is read.
        for appservice in state.services.appservices.all() {
            if appservice.user_in_namespace(user_id, false)
                && queries
                    .query_user(appservice.id(), user_id)
                    .await
                    .unwrap_or(false)
            {
                break;
            }
        }
    }
    Ok(Json(users.profile(user_id)?))
}
