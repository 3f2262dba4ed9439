//! `GET /_matrix/client/v1/room_summary/{roomIdOrAlias}`

use axum::{Json, extract::State};
use myelin_core::{Error, rooms::Viewer};
use ruma::{OwnedRoomId, OwnedServerName, api::client::room::get_summary::v1};
use serde_json::{Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma};

/// # `GET /_matrix/client/v1/room_summary/{roomIdOrAlias}`
///
/// What a room is before joining it (room previews, links): for rooms this server follows, from
/// its state when the caller may see it (members and invitees, or anyone for public, knockable
/// and world-readable rooms); for others, the summary their servers give in `/hierarchy`, with
/// the same visibility rule applied there. Works without an access token too.
pub async fn get_summary(
    State(state): State<AppState>,
    request: Ruma<v1::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let rooms = &state.services.rooms;
    let body = &request.body;
    let (room_id, mut via): (OwnedRoomId, Vec<OwnedServerName>) =
        match OwnedRoomId::try_from(body.room_id_or_alias.clone()) {
            Ok(room_id) => (room_id, body.via.clone()),
            Err(alias) => {
                if alias.server_name() == rooms.server_name() {
                    let room_id = rooms
                        .resolve_local_alias(&alias)?
                        .ok_or_else(|| Error::NotFound("Room alias not found".into()))?;
                    (room_id, Vec::new())
                } else {
                    let (room_id, servers) = state
                        .services
                        .federation
                        .get()?
                        .query_directory(&alias)
                        .await?;
                    (room_id, servers)
                }
            }
        };
    let user_id = request.identity.as_ref().map(|identity| &identity.user_id);
    let not_found = || Error::NotFound("Room not found, or not visible to you".into());
    if rooms.room_info(&room_id)?.is_some() {
        let viewer = user_id.map_or(Viewer::Anonymous, |user_id| Viewer::User(user_id));
        let visible = rooms.summary_visible(&room_id, viewer)?;
        if !visible {
            return Err(not_found().into());
        }
        let mut summary = rooms.public_room(&room_id)?.summary;
        finish(&state, &room_id, user_id, &mut summary)?;
        return Ok(Json(summary));
    }
    let federation = state.services.federation.get().map_err(|_| not_found())?;
    if let Some(server) = room_id.server_name() {
        via.push(server.to_owned());
    }
    let answer = federation
        .hierarchy(&via, &room_id, false)
        .await
        .map_err(|_| not_found())?;
    let mut summary = answer["room"].clone();
    if !summary.is_object() {
        return Err(not_found().into());
    }
    if let Some(object) = summary.as_object_mut() {
        object.remove("children_state");
    }
    finish(&state, &room_id, user_id, &mut summary)?;
    Ok(Json(summary))
}

/// Adds the caller's membership and the fields the room summary has beyond a directory entry.
fn finish(
    state: &AppState,
    room_id: &OwnedRoomId,
    user_id: Option<&ruma::OwnedUserId>,
    summary: &mut JsonValue,
) -> Result<(), ApiError> {
    let rooms = &state.services.rooms;
    if rooms.room_info(room_id)?.is_some() {
        rooms.add_version_and_encryption(room_id, summary)?;
    }
    if let Some(user_id) = user_id
        && let Some(membership) = rooms.membership(room_id, user_id)?
    {
        summary["membership"] = json!(membership.as_str());
    }
    Ok(())
}
