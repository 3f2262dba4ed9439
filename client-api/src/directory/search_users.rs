//! `POST /_matrix/client/v3/user_directory/search`

use axum::{Json, extract::State};
use ruma::api::client::user_directory::search_users::v3;
use serde_json::{Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma};

/// More results than this are never returned at once, whatever `limit` asks.
const MAX_LIMIT: usize = 100;

/// # `POST /_matrix/client/v3/user_directory/search`
///
/// Members of the caller's rooms and of published rooms, matched by display name or user id
/// (every word of the search must start a word of either), people sharing a room first;
/// support accounts left out.
pub async fn search_users(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let body = &request.body;
    let limit = usize::try_from(u64::from(body.limit))
        .unwrap_or(MAX_LIMIT)
        .min(MAX_LIMIT);
    // Support accounts are not in the directory, as in Synapse.
    let accounts = &state.services.users;
    let support = |user_id: &ruma::UserId| {
        accounts.is_local(user_id)
            && accounts
                .account(user_id)
                .ok()
                .flatten()
                .is_some_and(|account| account.user_type.as_deref() == Some("support"))
    };
    let (users, limited) =
        state
            .services
            .rooms
            .search_users(&identity.user_id, &body.search_term, limit, &support)?;
    let results: Vec<JsonValue> = users
        .into_iter()
        .map(|user| {
            let mut entry = json!({ "user_id": user.user_id });
            if let Some(name) = user.display_name {
                entry["display_name"] = name.into();
            }
            if let Some(avatar) = user.avatar_url {
                entry["avatar_url"] = avatar.into();
            }
            entry
        })
        .collect();
    Ok(Json(json!({ "results": results, "limited": limited })))
}
