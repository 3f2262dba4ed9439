//! `GET /_matrix/client/v3/directory/room/{roomAlias}`

use axum::extract::State;
use myelin_core::Error;
use ruma::api::client::alias::get_alias::v3;

use crate::{ApiError, AppState, Ruma, RumaResponse};

/// # `GET /_matrix/client/v3/directory/room/{roomAlias}`
pub async fn get_alias(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<RumaResponse<v3::Response>, ApiError> {
    let rooms = &state.services.rooms;
    let alias = &request.body.room_alias;
    if alias.server_name() != rooms.server_name() {
        let (room_id, servers) = state
            .services
            .federation
            .get()?
            .query_directory(&alias.clone())
            .await?;
        return Ok(RumaResponse(v3::Response::new(room_id, servers)));
    }
    let mut room_id = rooms.resolve_local_alias(alias)?;
    if room_id.is_none() {
        // An alias in an appservice's namespace may exist on the bridged side: ask, and look
        // again if the appservice says it made it.
        if let Some(queries) = state.services.appservice_queries.get() {
            for appservice in state.services.appservices.all() {
                if appservice.alias_in_namespace(alias, false)
                    && queries
                        .query_alias(appservice.id(), alias)
                        .await
                        .unwrap_or(false)
                {
                    room_id = rooms.resolve_local_alias(alias)?;
                    break;
                }
            }
        }
    }
    let room_id = room_id.ok_or_else(|| Error::NotFound("Room alias not found".into()))?;
    Ok(RumaResponse(v3::Response::new(
        room_id,
        vec![rooms.server_name().clone()],
    )))
}
