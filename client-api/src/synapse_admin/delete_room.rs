//! `DELETE /_synapse/admin/v2/rooms/{roomId}` and its status endpoints, and the synchronous
//! `v1` form: shutting a room down. Every local member leaves (the other servers hear of it),
//! the room leaves the directory and loses its local aliases, and, as asked, the members are
//! moved to a new room made by `new_room_user_id` (with the aliases and a message), the room is
//! blocked (no local user joins again) and purged (everything stored of it goes). Synapse runs this in the background and reports through
//! `delete_status`; Myelin runs it before answering and keeps the report for those endpoints
//! (in memory: until the next restart).

use axum::{Json, extract::State};
use myelin_core::{
    Error, lock,
    rooms::{CreateRoomRequest, EventSpec, Preset},
};
use ruma::{OwnedRoomId, RoomId, UserId};
use serde_json::{Value as JsonValue, json};

use super::{endpoints, local_account, require_admin};
use crate::{ApiError, AppState, Ruma};

/// What a shutdown is asked to do (the body of both deletion endpoints).
struct Shutdown<'a> {
    room_id: &'a RoomId,
    block: bool,
    purge: bool,
    new_room_user_id: Option<&'a str>,
    room_name: Option<&'a str>,
    message: Option<&'a str>,
}

/// Synapse's defaults for the room the members are moved to.
const DEFAULT_ROOM_NAME: &str = "Content Violation Notification";
const DEFAULT_MESSAGE: &str = "Sharing illegal content on this server is not permitted and rooms in violation will be blocked.";

/// Shuts a room down and answers with Synapse's `shutdown_room` object.
async fn shut_down(
    state: &AppState,
    admin: &UserId,
    shutdown: Shutdown<'_>,
) -> Result<JsonValue, ApiError> {
    let rooms = &state.services.rooms;
    let room_id = shutdown.room_id;
    let known = rooms.room_info(room_id)?.is_some();
    if !known && !shutdown.block {
        return Err(Error::NotFound("Unknown room".into()).into());
    }
    // The room the members are moved to, checked before anything changes.
    let mover = match shutdown.new_room_user_id {
        Some(user) => {
            let user_id = UserId::parse(user)
                .map_err(|_| Error::InvalidParam("new_room_user_id is not a user id".into()))?;
            if local_account(state, &user_id)?.deactivated {
                return Err(Error::InvalidParam(
                    "new_room_user_id must be an active local user".into(),
                )
                .into());
            }
            Some(user_id)
        }
        None => None,
    };
    let mut kicked = Vec::new();
    let mut failed = Vec::new();
    let mut aliases = Vec::new();
    let mut new_room_id = None;
    if known {
        let members = rooms.local_joined_members(room_id)?;
        if let Some(mover) = &mover {
            new_room_id = Some(new_room(state, mover, shutdown.room_name).await?);
        }
        for member in members {
            let reason = shutdown.message.or(Some("This room has been shut down"));
            match rooms.leave(room_id, &member, reason).await {
                Ok(()) => kicked.push(member),
                Err(error) => {
                    tracing::warn!(%room_id, %member, %error, "a member could not be made to leave");
                    failed.push(member);
                }
            }
        }
        // Invites of local users are declined too.
        for member in rooms.local_invited_members(room_id)? {
            let _ = rooms.leave(room_id, &member, None).await;
        }
        rooms.set_published(room_id, false).await?;
        aliases = rooms.remove_local_aliases(room_id).await?;
        if let (Some(mover), Some(new_room_id)) = (&mover, &new_room_id) {
            // As Synapse: the members join the new room, which has the old room's aliases
            // and the message.
            for member in &kicked {
                if member == mover {
                    continue;
                }
                let profile = crate::room::member_profile(state, member);
                if let Err(error) = rooms.join(new_room_id, member, &profile, None).await {
                    tracing::warn!(%new_room_id, %member, %error, "a member could not be moved");
                }
            }
            for alias in &aliases {
                rooms.set_local_alias(alias, new_room_id, mover).await?;
            }
            rooms
                .send(
                    new_room_id,
                    mover,
                    EventSpec::message(
                        "m.room.message".to_owned(),
                        json!({
                            "msgtype": "m.text",
                            "body": shutdown.message.unwrap_or(DEFAULT_MESSAGE),
                        }),
                    ),
                    None,
                )
                .await?;
        }
    }
    if shutdown.block {
        rooms.set_blocked(room_id, Some(admin)).await?;
    }
    if known && shutdown.purge {
        rooms.purge_room(room_id).await?;
    }
    Ok(json!({
        "kicked_users": kicked,
        "failed_to_kick_users": failed,
        "local_aliases": aliases,
        "new_room_id": new_room_id,
    }))
}

/// The room shut-down members are moved to: public to join, where only its creator speaks.
async fn new_room(
    state: &AppState,
    creator: &UserId,
    name: Option<&str>,
) -> Result<OwnedRoomId, ApiError> {
    let mut power = serde_json::Map::new();
    power.insert("users_default".into(), json!(-10));
    let profile = crate::room::member_profile(state, creator);
    Ok(state
        .services
        .rooms
        .create_room(
            CreateRoomRequest {
                creator: creator.to_owned(),
                room_version: None,
                preset: Some(Preset::PublicChat),
                public_visibility: false,
                name: Some(name.unwrap_or(DEFAULT_ROOM_NAME).to_owned()),
                topic: None,
                alias: None,
                invite: Vec::new(),
                is_direct: false,
                creation_content: serde_json::Map::new(),
                initial_state: Vec::new(),
                power_level_content_override: Some(power),
                creator_displayname: profile.displayname,
                creator_avatar_url: profile.avatar_url,
                invitee_profiles: Default::default(),
            },
            None,
        )
        .await?)
}

/// # `DELETE /_synapse/admin/v2/rooms/{roomId}`
pub async fn delete_room(
    State(state): State<AppState>,
    request: Ruma<endpoints::delete_room::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    require_admin(&state, identity)?;
    let body = &request.body;
    let shutdown = shut_down(
        &state,
        &identity.user_id,
        Shutdown {
            room_id: &body.room_id,
            block: body.block,
            purge: body.purge,
            new_room_user_id: body.new_room_user_id.as_deref(),
            room_name: body.room_name.as_deref(),
            message: body.message.as_deref(),
        },
    )
    .await?;
    let delete_id = super::tasks::record(
        &state,
        "shutdown_and_purge_room",
        body.room_id.as_str(),
        Ok(shutdown.clone()),
    );
    let report = json!({
        "delete_id": delete_id,
        "status": "complete",
        "shutdown_room": shutdown,
    });
    lock(&state.admin_deletions).push((body.room_id.clone(), report));
    Ok(Json(json!({ "delete_id": delete_id })))
}

/// # `DELETE /_synapse/admin/v1/rooms/{roomId}`
///
/// The older, synchronous form: the `shutdown_room` object is the answer.
pub async fn delete_room_v1(
    State(state): State<AppState>,
    request: Ruma<endpoints::delete_room_v1::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    require_admin(&state, identity)?;
    let body = &request.body;
    Ok(Json(
        shut_down(
            &state,
            &identity.user_id,
            Shutdown {
                room_id: &body.room_id,
                block: body.block,
                purge: body.purge,
                new_room_user_id: body.new_room_user_id.as_deref(),
                room_name: body.room_name.as_deref(),
                message: body.message.as_deref(),
            },
        )
        .await?,
    ))
}

/// # `GET /_synapse/admin/v2/rooms/{roomId}/delete_status`
pub async fn room_delete_status(
    State(state): State<AppState>,
    request: Ruma<endpoints::room_delete_status::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let results: Vec<JsonValue> = lock(&state.admin_deletions)
        .iter()
        .filter(|(room_id, _)| *room_id == request.body.room_id)
        .map(|(_, report)| report.clone())
        .collect();
    if results.is_empty() {
        return Err(Error::NotFound("No delete task for room".into()).into());
    }
    Ok(Json(json!({ "results": results })))
}

/// # `GET /_synapse/admin/v2/rooms/delete_status/{deleteId}`
pub async fn delete_status(
    State(state): State<AppState>,
    request: Ruma<endpoints::delete_status::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    lock(&state.admin_deletions)
        .iter()
        .find(|(_, report)| report["delete_id"] == request.body.delete_id.as_str())
        .map(|(_, report)| Json(report.clone()))
        .ok_or_else(|| Error::NotFound("delete id not found".into()).into())
}
