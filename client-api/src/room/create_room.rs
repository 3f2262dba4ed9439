//! `POST /_matrix/client/v3/createRoom`

use axum::extract::State;
use myelin_core::{
    Error,
    rooms::{CreateRoomRequest, Preset},
};
use ruma::{
    RoomAliasId,
    api::client::room::{Visibility, create_room::v3},
};
use serde_json::{Map, Value as JsonValue};

use crate::{ApiError, AppState, Ruma, RumaResponse};

fn object(raw: Option<&JsonValue>, field: &str) -> Result<Map<String, JsonValue>, ApiError> {
    match raw {
        None | Some(JsonValue::Null) => Ok(Map::new()),
        Some(JsonValue::Object(map)) => Ok(map.clone()),
        Some(_) => Err(ApiError::bad_json(format!("{field} must be an object"))),
    }
}

/// # `POST /_matrix/client/v3/createRoom`
pub async fn create_room(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<RumaResponse<v3::Response>, ApiError> {
    let identity = request.identity()?;
    // Suspended accounts may read and leave, not act (spec 1.18).
    state
        .services
        .users
        .check_not_suspended(&identity.user_id)?;
    let body = &request.body;
    // A shadow-banned user's room with invites is made up, as Synapse makes it up: a room id
    // that leads nowhere, no invite sent. Without invites the room is created as usual.
    if (!body.invite.is_empty() || !body.invite_3pid.is_empty())
        && state.services.users.is_shadow_banned(&identity.user_id)
    {
        let room_id = ruma::RoomId::parse(format!(
            "!{}:{}",
            myelin_core::ids::random_string(18),
            state.services.rooms.server_name()
        ))
        .map_err(|error| Error::Internal(error.to_string()))?;
        return Ok(RumaResponse(v3::Response::new(room_id)));
    }
    let raw = request.json.clone().unwrap_or_default();
    let preset = match body.preset.as_ref().map(|preset| preset.as_str()) {
        None => None,
        Some("private_chat") => Some(Preset::PrivateChat),
        Some("trusted_private_chat") => Some(Preset::TrustedPrivateChat),
        Some("public_chat") => Some(Preset::PublicChat),
        Some(other) => return Err(Error::InvalidParam(format!("Unknown preset {other}")).into()),
    };
    let alias = match &body.room_alias_name {
        Some(name) => {
            let alias =
                RoomAliasId::parse(format!("#{name}:{}", state.services.rooms.server_name()))
                    .map_err(|_| {
                        Error::InvalidParam("room_alias_name is not a valid alias localpart".into())
                    })?;
            if state.services.rooms.resolve_local_alias(&alias)?.is_some() {
                return Err(Error::RoomInUse("Room alias already taken".into()).into());
            }
            Some(alias)
        }
        None => None,
    };
    let mut initial_state = Vec::new();
    for event in raw
        .get("initial_state")
        .and_then(JsonValue::as_array)
        .into_iter()
        .flatten()
    {
        let kind = event
            .get("type")
            .and_then(JsonValue::as_str)
            .ok_or_else(|| ApiError::bad_json("initial_state events need a type"))?;
        let state_key = event
            .get("state_key")
            .and_then(JsonValue::as_str)
            .unwrap_or_default();
        let content = event
            .get("content")
            .cloned()
            .filter(JsonValue::is_object)
            .ok_or_else(|| ApiError::bad_json("initial_state events need content"))?;
        initial_state.push((kind.to_owned(), state_key.to_owned(), content));
    }
    let profile = super::member_profile(&state, &identity.user_id);
    let power_level_override = object(
        raw.get("power_level_content_override"),
        "power_level_content_override",
    )?;
    let creation = CreateRoomRequest {
        creator: identity.user_id.clone(),
        room_version: body.room_version.clone(),
        preset,
        public_visibility: body.visibility == Visibility::Public,
        name: body.name.clone(),
        topic: body.topic.clone(),
        alias: alias.clone(),
        invite: body.invite.clone(),
        is_direct: body.is_direct,
        creation_content: object(raw.get("creation_content"), "creation_content")?,
        initial_state,
        power_level_content_override: (!power_level_override.is_empty())
            .then_some(power_level_override),
        creator_displayname: profile.displayname,
        creator_avatar_url: profile.avatar_url,
        invitee_profiles: body
            .invite
            .iter()
            .map(|invitee| (invitee.clone(), super::member_profile(&state, invitee)))
            .collect(),
    };
    let federation = state.services.federation.get().ok();
    let room_id = state
        .services
        .rooms
        .create_room(creation, federation.as_deref())
        .await?;
    if let Some(alias) = alias {
        state
            .services
            .rooms
            .set_local_alias(&alias, &room_id, &identity.user_id)
            .await?;
    }
    if body.visibility == Visibility::Public {
        state.services.rooms.set_published(&room_id, true).await?;
    }
    Ok(RumaResponse(v3::Response::new(room_id)))
}
