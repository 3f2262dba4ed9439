//! `POST /_synapse/admin/v1/send_server_notice` (and `PUT …/{txnId}`): a message from the
//! server's administrators to one local user, as Synapse sends it: from the notices account
//! (`[server_notices]`), in a room of the user's own with it (made and the user invited on the
//! first notice, named after the config and tagged `m.server_notice` for the user), where
//! only the notices account may speak.

use axum::{Json, extract::State};
use myelin_core::{
    Error,
    rooms::{CreateRoomRequest, EventSpec, Membership, Preset},
};
use ruma::{OwnedRoomId, OwnedUserId, UserId};
use serde_json::{Value as JsonValue, json};

use super::{endpoints, local_account, require_admin};
use crate::{ApiError, AppState, Ruma};

/// The notices account's account data: user → their notices room.
const NOTICE_ROOMS: &str = "io.myelin.server_notice_rooms";

/// # `POST /_synapse/admin/v1/send_server_notice`
pub async fn send(
    State(state): State<AppState>,
    request: Ruma<endpoints::send_server_notice::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let body = &request.body;
    let event_id = notify(
        &state,
        &body.user_id,
        &body.content,
        body.kind.as_deref(),
        body.state_key.as_deref(),
        None,
    )
    .await?;
    Ok(Json(json!({ "event_id": event_id })))
}

/// # `PUT /_synapse/admin/v1/send_server_notice/{txnId}`
///
/// A repeated transaction id sends nothing new and answers the first event.
pub async fn send_with_txn(
    State(state): State<AppState>,
    request: Ruma<endpoints::send_server_notice_txn::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    require_admin(&state, identity)?;
    let body = &request.body;
    let event_id = notify(
        &state,
        &body.user_id,
        &body.content,
        body.kind.as_deref(),
        body.state_key.as_deref(),
        Some((&identity.device_id, body.txn_id.as_str())),
    )
    .await?;
    Ok(Json(json!({ "event_id": event_id })))
}

async fn notify(
    state: &AppState,
    user_id: &UserId,
    content: &JsonValue,
    kind: Option<&str>,
    state_key: Option<&str>,
    transaction: Option<(&ruma::DeviceId, &str)>,
) -> Result<ruma::OwnedEventId, ApiError> {
    let config = &state.services.config.server_notices;
    let Some(localpart) = &config.system_mxid_localpart else {
        return Err(
            Error::InvalidParam("Server notices are not enabled on this server".into()).into(),
        );
    };
    if !state.services.users.is_local(user_id) {
        return Err(
            Error::InvalidParam("Server notices can only be sent to local users".into()).into(),
        );
    }
    local_account(state, user_id)?;
    if !content.is_object() {
        return Err(Error::BadJson("content must be an object".into()).into());
    }
    let system = notices_account(state, localpart).await?;
    let room_id = notices_room(state, &system, user_id).await?;
    let kind = kind.unwrap_or("m.room.message");
    let spec = match state_key {
        Some(key) => EventSpec::state(kind, key, content.clone()),
        None => EventSpec::message(kind, content.clone()),
    };
    let transaction = transaction
        .map(|(device_id, txn_id)| myelin_core::rooms::Transaction { device_id, txn_id });
    Ok(state
        .services
        .rooms
        .send(&room_id, &system, spec, transaction)
        .await?)
}

/// The notices account, made (without a password: nobody logs in as it) on first use.
async fn notices_account(state: &AppState, localpart: &str) -> Result<OwnedUserId, ApiError> {
    let users = &state.services.users;
    let system = UserId::parse_with_server_name(localpart, state.services.rooms.server_name())
        .map_err(|error| {
            Error::Internal(format!("server_notices.system_mxid_localpart: {error}"))
        })?;
    if users.account(&system)?.is_none() {
        users.create_account(&system, None, false, None).await?;
        if let Some(name) = &state
            .services
            .config
            .server_notices
            .system_mxid_display_name
        {
            users
                .set_profile_field(
                    &system,
                    "displayname",
                    Some(JsonValue::String(name.clone())),
                )
                .await?;
        }
    }
    Ok(system)
}

/// The user's notices room: the one made for them before while they have not left it, else a
/// new one, with the user invited and the room tagged for them.
async fn notices_room(
    state: &AppState,
    system: &UserId,
    user_id: &UserId,
) -> Result<OwnedRoomId, ApiError> {
    let users = &state.services.users;
    let rooms = &state.services.rooms;
    let mut known = users
        .account_data(system, None, NOTICE_ROOMS)?
        .unwrap_or_else(|| json!({}));
    if let Some(room_id) = known
        .get(user_id.as_str())
        .and_then(JsonValue::as_str)
        .and_then(|room| ruma::RoomId::parse(room).ok())
        && matches!(
            rooms.membership(&room_id, user_id)?,
            Some(Membership::Join | Membership::Invite)
        )
    {
        return Ok(room_id);
    }
    let config = &state.services.config.server_notices;
    let mut power = serde_json::Map::new();
    power.insert("events_default".into(), json!(100));
    let room_id = rooms
        .create_room(
            CreateRoomRequest {
                creator: system.to_owned(),
                room_version: None,
                preset: Some(Preset::PrivateChat),
                public_visibility: false,
                name: Some(config.room_name.clone()),
                topic: None,
                alias: None,
                invite: vec![user_id.to_owned()],
                is_direct: false,
                creation_content: serde_json::Map::new(),
                initial_state: Vec::new(),
                power_level_content_override: Some(power),
                creator_displayname: config.system_mxid_display_name.clone(),
                creator_avatar_url: None,
                invitee_profiles: Default::default(),
            },
            None,
        )
        .await?;
    users
        .set_account_data(
            user_id,
            Some(&room_id),
            "m.tag",
            json!({ "tags": { "m.server_notice": { "order": 0.5 } } }),
        )
        .await?;
    known[user_id.as_str()] = room_id.as_str().into();
    users
        .set_account_data(system, None, NOTICE_ROOMS, known)
        .await?;
    Ok(room_id)
}
