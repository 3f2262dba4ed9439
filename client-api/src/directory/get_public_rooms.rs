//! `GET` and `POST /_matrix/client/v3/publicRooms`: this server's directory, or another
//! server's through federation.

use axum::{Json, extract::State};
use myelin_core::rooms::DirectoryNetwork;
use ruma::api::client::directory::{get_public_rooms, get_public_rooms_filtered};
use serde_json::{Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma};

async fn page(
    state: &AppState,
    server: Option<&ruma::ServerName>,
    search: Option<&str>,
    network: DirectoryNetwork<'_>,
    limit: Option<ruma::UInt>,
    since: Option<&str>,
) -> Result<JsonValue, ApiError> {
    let limit = limit.map(u64::from);
    if let Some(server) = server
        && server != state.services.rooms.server_name()
    {
        let mut request = json!({});
        if let Some(limit) = limit {
            request["limit"] = limit.into();
        }
        if let Some(since) = since {
            request["since"] = since.into();
        }
        if let Some(search) = search {
            request["filter"] = json!({ "generic_search_term": search });
        }
        return Ok(state
            .services
            .federation
            .get()?
            .public_rooms(server, request)
            .await?);
    }
    Ok(state
        .services
        .rooms
        .public_rooms_page(search, network, limit, since)?)
}

/// # `GET /_matrix/client/v3/publicRooms`
pub async fn get_public_rooms(
    State(state): State<AppState>,
    request: Ruma<get_public_rooms::v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let body = &request.body;
    Ok(Json(
        page(
            &state,
            body.server.as_deref(),
            None,
            DirectoryNetwork::Matrix,
            body.limit,
            body.since.as_deref(),
        )
        .await?,
    ))
}

/// # `POST /_matrix/client/v3/publicRooms`
pub async fn get_public_rooms_filtered(
    State(state): State<AppState>,
    request: Ruma<get_public_rooms_filtered::v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    request.identity()?;
    let body = &request.body;
    Ok(Json(
        page(
            &state,
            body.server.as_deref(),
            body.filter.generic_search_term.as_deref(),
            DirectoryNetwork::of(&body.room_network),
            body.limit,
            body.since.as_deref(),
        )
        .await?,
    ))
}
