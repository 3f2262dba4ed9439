//! What administrators ask about a user: their memberships, how many invites they sent, how
//! many rooms they ever joined, and who has an external or third-party id (Synapse's shapes).

use axum::{Json, extract::State, http::Uri};
use myelin_core::Error;
use serde_json::{Map, Value as JsonValue, json};

use super::{endpoints, local_account, require_admin};
use crate::{ApiError, AppState, Ruma, extract::query_parameter};

/// # `GET /_synapse/admin/v1/users/{userId}/memberships`
///
/// `{"memberships": {room id: membership}}`.
pub async fn memberships(
    State(state): State<AppState>,
    request: Ruma<endpoints::user_memberships::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let user_id = &request.body.user_id;
    local_account(&state, user_id)?;
    let memberships: Map<String, JsonValue> = state
        .services
        .rooms
        .memberships_of(user_id)?
        .into_iter()
        .map(|(room_id, membership)| (room_id.to_string(), membership.as_str().into()))
        .collect();
    Ok(Json(json!({ "memberships": memberships })))
}

/// The required `from_ts` query parameter (Synapse requires it too).
fn from_ts(uri: &Uri) -> Result<u64, ApiError> {
    Ok(query_parameter(uri, "from_ts")
        .ok_or_else(|| {
            Error::MissingParam("Missing required integer query parameter from_ts".into())
        })?
        .parse()
        .map_err(|_| Error::InvalidParam("from_ts must be a timestamp".into()))?)
}

/// # `GET /_synapse/admin/v1/users/{userId}/sent_invite_count?from_ts=…`
pub async fn sent_invite_count(
    State(state): State<AppState>,
    uri: Uri,
    request: Ruma<endpoints::sent_invite_count::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let user_id = &request.body.user_id;
    local_account(&state, user_id)?;
    let count = state
        .services
        .rooms
        .invites_sent_since(user_id, from_ts(&uri)?)?;
    Ok(Json(json!({ "invite_count": count })))
}

/// # `GET /_synapse/admin/v1/users/{userId}/cumulative_joined_room_count?from_ts=…`
///
/// The rooms the user joined since `from_ts`, those they left since included.
pub async fn cumulative_joined_room_count(
    State(state): State<AppState>,
    uri: Uri,
    request: Ruma<endpoints::cumulative_joined_room_count::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let user_id = &request.body.user_id;
    local_account(&state, user_id)?;
    let since = from_ts(&uri)?;
    let rooms = &state.services.rooms;
    let mut count = 0;
    for (room_id, _) in rooms.memberships_of(user_id)? {
        if rooms.joined_since(&room_id, user_id, since)? {
            count += 1;
        }
    }
    Ok(Json(json!({ "cumulative_joined_room_count": count })))
}

/// # `GET /_synapse/admin/v1/auth_providers/{provider}/users/{externalId}`
///
/// Myelin has no single sign-on, so no account has an external id: `404`, as Synapse answers
/// an id it does not know.
pub async fn user_by_external_id(
    State(state): State<AppState>,
    request: Ruma<endpoints::user_by_external_id::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let body = &request.body;
    tracing::debug!(provider = %body.provider, external_id = %body.external_id, "no account has an external id");
    Err(Error::NotFound("User not found".into()).into())
}

/// # `GET /_synapse/admin/v1/threepid/{medium}/users/{address}`
///
/// Myelin binds no third-party ids to accounts: `404`, as Synapse answers an unknown one.
pub async fn user_by_threepid(
    State(state): State<AppState>,
    request: Ruma<endpoints::user_by_threepid::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let body = &request.body;
    tracing::debug!(medium = %body.medium, address = %body.address, "no account has a third-party id");
    Err(Error::NotFound("User not found".into()).into())
}
