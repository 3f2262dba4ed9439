//! `PUT /_matrix/client/v3/directory/list/appservice/{networkId}/{roomId}`

use axum::{Json, extract::State};
use ruma::api::client::{appservice::set_room_visibility::v3, room::Visibility};
use serde_json::{Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma};

/// # `PUT /_matrix/client/v3/directory/list/appservice/{networkId}/{roomId}`
///
/// An appservice publishes a room in the directory of one of its networks; listings that name
/// that network (`third_party_instance_id`) or all networks show it, the plain Matrix listing
/// does not (as in Synapse).
pub async fn set_room_visibility_appservice(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    if identity.appservice_id.is_none() {
        return Err(ApiError::forbidden(
            "Only application services can publish rooms in a network's directory",
        ));
    }
    let body = &request.body;
    state
        .services
        .rooms
        .set_published_in(
            &body.room_id,
            Some(&body.network_id),
            body.visibility == Visibility::Public,
        )
        .await?;
    Ok(Json(json!({})))
}
