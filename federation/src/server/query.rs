//! Queries: profiles and aliases of this server, and its public room directory.

use axum::{Json, extract::State};
use myelin_core::Error;
use myelin_core::rooms::DirectoryNetwork;
use myelin_core::rooms::Viewer;
use ruma::api::federation::{
    directory::{get_public_rooms, get_public_rooms_filtered},
    query::{get_profile_information, get_room_information},
    space::get_hierarchy,
};
use serde_json::{Value as JsonValue, json};

use super::{FedResult, RumaResponse, Signed};

/// # `GET /_matrix/federation/v1/query/profile`
pub async fn profile(
    State(state): State<super::State>,
    request: Signed<get_profile_information::v1::Request>,
) -> FedResult<Json<JsonValue>> {
    let user_id = &request.body.user_id;
    if !state.services.users.is_local(user_id) || state.services.users.account(user_id)?.is_none() {
        return Err(Error::NotFound("Profile not found".into()).into());
    }
    let profile = state.services.users.profile(user_id)?;
    let answer = match &request.body.field {
        Some(field) => {
            let name = field.as_str();
            let mut only = serde_json::Map::new();
            if let Some(value) = profile.get(name) {
                only.insert(name.to_owned(), value.clone());
            }
            only
        }
        None => profile,
    };
    Ok(Json(JsonValue::Object(answer)))
}

/// # `GET /_matrix/federation/v1/query/directory`
pub async fn directory(
    State(state): State<super::State>,
    request: Signed<get_room_information::v1::Request>,
) -> FedResult<RumaResponse<get_room_information::v1::Response>> {
    let alias = &request.body.room_alias;
    if alias.server_name() != state.services.rooms.server_name() {
        return Err(Error::NotFound("Not an alias of this server".into()).into());
    }
    let room_id = state
        .services
        .rooms
        .resolve_local_alias(alias)?
        .ok_or_else(|| Error::NotFound("Room alias not found".into()))?;
    let mut servers: Vec<_> = state
        .services
        .rooms
        .joined_servers(&room_id)?
        .into_iter()
        .collect();
    // Our own name first: the asker will try it first.
    let own = state.services.rooms.server_name().clone();
    servers.retain(|server| *server != own);
    servers.insert(0, own);
    Ok(RumaResponse(get_room_information::v1::Response::new(
        room_id, servers,
    )))
}

/// # `GET /_matrix/federation/v1/publicRooms`
pub async fn public_rooms(
    State(state): State<super::State>,
    request: Signed<get_public_rooms::v1::Request>,
) -> FedResult<Json<JsonValue>> {
    let body = &request.body;
    Ok(Json(state.services.rooms.public_rooms_page(
        None,
        DirectoryNetwork::of(&body.room_network),
        body.limit.map(u64::from),
        body.since.as_deref(),
    )?))
}

/// # `POST /_matrix/federation/v1/publicRooms`
pub async fn public_rooms_filtered(
    State(state): State<super::State>,
    request: Signed<get_public_rooms_filtered::v1::Request>,
) -> FedResult<Json<JsonValue>> {
    let body = &request.body;
    Ok(Json(state.services.rooms.public_rooms_page(
        body.filter.generic_search_term.as_deref(),
        DirectoryNetwork::of(&body.room_network),
        body.limit.map(u64::from),
        body.since.as_deref(),
    )?))
}

/// # `GET /_matrix/federation/v1/hierarchy/{roomId}`
pub async fn hierarchy(
    State(state): State<super::State>,
    request: Signed<get_hierarchy::v1::Request>,
) -> FedResult<Json<JsonValue>> {
    let rooms = &state.services.rooms;
    let body = &request.body;
    let viewer = Viewer::Server(&request.origin);
    let room = rooms
        .hierarchy_summary(&body.room_id, viewer)?
        .ok_or_else(|| Error::NotFound("Room not found or not accessible".into()))?;
    let mut children = Vec::new();
    let mut inaccessible = Vec::new();
    for child in rooms.space_children(&body.room_id, body.suggested_only)? {
        match rooms.hierarchy_summary(&child.room_id, viewer)? {
            Some(mut summary) => {
                if let Some(object) = summary.as_object_mut() {
                    object.remove("children_state");
                }
                children.push(summary);
            }
            None if rooms.room_info(&child.room_id)?.is_some() => inaccessible.push(child.room_id),
            None => {}
        }
    }
    Ok(Json(
        json!({ "room": room, "children": children, "inaccessible_children": inaccessible }),
    ))
}

/// # `GET /_matrix/federation/v1/openid/userinfo`
///
/// Whose an OpenID token is (unauthenticated: the token is the credential).
pub async fn openid_userinfo(
    State(state): State<super::State>,
    request: super::Unsigned<ruma::api::federation::openid::get_openid_userinfo::v1::Request>,
) -> super::FedResult<axum::Json<serde_json::Value>> {
    let user_id = state
        .services
        .users
        .openid_user(&request.0.access_token)?
        .ok_or(myelin_core::Error::UnknownToken { soft_logout: false })?;
    Ok(axum::Json(serde_json::json!({ "sub": user_id })))
}
