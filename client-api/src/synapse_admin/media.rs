//! Media, for administrators: one piece's details, deleting it (local media), deleting local
//! media by date and size, purging the cache of remote media, a user's uploads (listed and
//! deleted), a room's media (listed and quarantined), quarantine (served to nobody) and
//! protection from it. In Synapse's shapes.

use axum::{Json, extract::State, http::Uri};
use myelin_core::{Error, media::MediaEntry, rooms::Direction};
use ruma::{OwnedMxcUri, RoomId};
use serde_json::{Value as JsonValue, json};

use super::{endpoints, local_account, require_admin};
use crate::{ApiError, AppState, Ruma, extract::query_parameter};

fn media_json(entry: &MediaEntry) -> JsonValue {
    let record = &entry.record;
    json!({
        "media_id": entry.media_id,
        "media_length": record.size,
        "media_type": record.content_type,
        "upload_name": record.filename,
        "created_ts": record.created_ms,
        "last_access_ts": record.last_access_ms,
        "quarantined_by": record.quarantined_by,
        "safe_from_quarantine": record.safe_from_quarantine,
        "user_id": record.uploader,
    })
}

fn find(
    state: &AppState,
    server: &ruma::ServerName,
    media_id: &str,
) -> Result<MediaEntry, ApiError> {
    let record = state
        .services
        .media
        .record(server, media_id)?
        .ok_or_else(|| Error::NotFound("Unknown media".into()))?;
    Ok(MediaEntry {
        server: server.to_owned(),
        media_id: media_id.to_owned(),
        record,
    })
}

fn deleted(entries: &[MediaEntry]) -> Json<JsonValue> {
    let ids: Vec<&str> = entries
        .iter()
        .map(|entry| entry.media_id.as_str())
        .collect();
    Json(json!({ "deleted_media": ids, "total": ids.len() }))
}

/// # `GET /_synapse/admin/v1/media/{serverName}/{mediaId}`
pub async fn media_info(
    State(state): State<AppState>,
    request: Ruma<endpoints::media_info::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let body = &request.body;
    let entry = find(&state, &body.server_name, &body.media_id)?;
    Ok(Json(json!({ "media_info": media_json(&entry) })))
}

/// # `DELETE /_synapse/admin/v1/media/{serverName}/{mediaId}`
///
/// Local media only, as Synapse (cached remote media goes with `purge_media_cache`).
pub async fn delete_media(
    State(state): State<AppState>,
    request: Ruma<endpoints::delete_media::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let body = &request.body;
    if body.server_name != *state.services.media.server_name() {
        return Err(Error::InvalidParam("Can only delete local media".into()).into());
    }
    let entry = find(&state, &body.server_name, &body.media_id)?;
    state
        .services
        .media
        .delete_entries(std::slice::from_ref(&entry))
        .await?;
    Ok(deleted(std::slice::from_ref(&entry)))
}

/// The `mxc://` URIs in use as images: users' avatars, members' avatars in rooms, rooms'
/// avatars (what Synapse's `keep_profiles` keeps).
fn avatars_in_use(state: &AppState) -> Result<std::collections::HashSet<String>, ApiError> {
    let mut used = std::collections::HashSet::new();
    let users = &state.services.users;
    for (user_id, _) in users.list_accounts()? {
        if let Some(url) = users
            .profile(&user_id)
            .unwrap_or_default()
            .get("avatar_url")
            .and_then(JsonValue::as_str)
        {
            used.insert(url.to_owned());
        }
    }
    let rooms = &state.services.rooms;
    for room_id in rooms.room_ids()? {
        for event in rooms.current_state(&room_id)? {
            let key = match event.kind.to_string().as_str() {
                "m.room.member" => "avatar_url",
                "m.room.avatar" => "url",
                _ => continue,
            };
            if let Some(url) = event.content_json().get(key).and_then(JsonValue::as_str) {
                used.insert(url.to_owned());
            }
        }
    }
    Ok(used)
}

/// Deletes local media last accessed before `before_ts` (ms) and larger than `size_gt` bytes;
/// protected media stays, and so do avatars unless `keep_profiles=false`.
async fn delete_local_before(state: &AppState, uri: &Uri) -> Result<Json<JsonValue>, ApiError> {
    let before: u64 = query_parameter(uri, "before_ts")
        .and_then(|before| before.parse().ok())
        .ok_or_else(|| Error::MissingParam("Missing integer query parameter 'before_ts'".into()))?;
    let size_gt: u64 = query_parameter(uri, "size_gt")
        .and_then(|size| size.parse().ok())
        .unwrap_or(0);
    let keep_profiles = query_parameter(uri, "keep_profiles").as_deref() != Some("false");
    let avatars = if keep_profiles {
        avatars_in_use(state)?
    } else {
        Default::default()
    };
    let media = &state.services.media;
    let ours = media.server_name().to_owned();
    let doomed: Vec<MediaEntry> = media
        .entries()?
        .into_iter()
        .filter(|entry| {
            entry.server == ours
                && !entry.record.remote
                && !entry.record.safe_from_quarantine
                && entry.record.last_access_ms < before
                && entry.record.size > size_gt
                && !avatars.contains(&format!("mxc://{ours}/{}", entry.media_id))
        })
        .collect();
    media.delete_entries(&doomed).await?;
    Ok(deleted(&doomed))
}

/// # `POST /_synapse/admin/v1/media/delete?before_ts=…&size_gt=…&keep_profiles=…`
pub async fn delete_media_before(
    State(state): State<AppState>,
    uri: Uri,
    request: Ruma<endpoints::delete_media_before::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    delete_local_before(&state, &uri).await
}

/// # `POST /_synapse/admin/v1/media/{serverName}/delete?…` (Synapse's older path; only this
/// server's name is accepted)
pub async fn delete_server_media_before(
    State(state): State<AppState>,
    uri: Uri,
    request: Ruma<endpoints::delete_server_media_before::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    if request.body.server_name != *state.services.media.server_name() {
        return Err(Error::InvalidParam("Can only delete local media".into()).into());
    }
    delete_local_before(&state, &uri).await
}

/// # `POST /_synapse/admin/v1/purge_media_cache?before_ts=…`
pub async fn purge_media_cache(
    State(state): State<AppState>,
    uri: Uri,
    request: Ruma<endpoints::purge_media_cache::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let before: u64 = query_parameter(&uri, "before_ts")
        .and_then(|before| before.parse().ok())
        .ok_or_else(|| Error::MissingParam("Missing integer query parameter 'before_ts'".into()))?;
    let media = &state.services.media;
    let doomed: Vec<MediaEntry> = media
        .entries()?
        .into_iter()
        .filter(|entry| entry.record.remote && entry.record.last_access_ms < before)
        .collect();
    media.delete_entries(&doomed).await?;
    Ok(Json(json!({ "deleted": doomed.len() })))
}

fn uploads_of(state: &AppState, user_id: &ruma::UserId) -> Result<Vec<MediaEntry>, ApiError> {
    let media = &state.services.media;
    let mut uploads: Vec<MediaEntry> = media
        .entries()?
        .into_iter()
        .filter(|entry| {
            entry.server == *media.server_name()
                && !entry.record.remote
                && entry.record.uploader.as_deref() == Some(user_id)
        })
        .collect();
    // Newest first, as Synapse's default.
    uploads.sort_by_key(|entry| std::cmp::Reverse(entry.record.created_ms));
    Ok(uploads)
}

/// # `GET /_synapse/admin/v1/users/{userId}/media`
pub async fn user_media(
    State(state): State<AppState>,
    uri: Uri,
    request: Ruma<endpoints::user_media::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let user_id = &request.body.user_id;
    local_account(&state, user_id)?;
    let from: usize = query_parameter(&uri, "from")
        .and_then(|from| from.parse().ok())
        .unwrap_or(0);
    let limit: usize = query_parameter(&uri, "limit")
        .and_then(|limit| limit.parse().ok())
        .unwrap_or(100);
    let uploads = uploads_of(&state, user_id)?;
    let total = uploads.len();
    let page: Vec<JsonValue> = uploads
        .iter()
        .skip(from)
        .take(limit)
        .map(media_json)
        .collect();
    let mut answer = json!({ "media": page, "total": total });
    if from + limit < total {
        answer["next_token"] = (from + limit).into();
    }
    Ok(Json(answer))
}

/// # `DELETE /_synapse/admin/v1/users/{userId}/media`
pub async fn delete_user_media(
    State(state): State<AppState>,
    request: Ruma<endpoints::delete_user_media::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let user_id = &request.body.user_id;
    local_account(&state, user_id)?;
    let uploads = uploads_of(&state, user_id)?;
    state.services.media.delete_entries(&uploads).await?;
    Ok(deleted(&uploads))
}

/// # `POST /_synapse/admin/v1/media/quarantine/{serverName}/{mediaId}`
pub async fn quarantine(
    State(state): State<AppState>,
    request: Ruma<endpoints::quarantine_media::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    require_admin(&state, identity)?;
    let body = &request.body;
    state
        .services
        .media
        .set_quarantined(&body.server_name, &body.media_id, Some(&identity.user_id))
        .await?;
    Ok(Json(json!({})))
}

/// # `POST /_synapse/admin/v1/media/unquarantine/{serverName}/{mediaId}`
pub async fn unquarantine(
    State(state): State<AppState>,
    request: Ruma<endpoints::unquarantine_media::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let body = &request.body;
    state
        .services
        .media
        .set_quarantined(&body.server_name, &body.media_id, None)
        .await?;
    Ok(Json(json!({})))
}

/// # `POST /_synapse/admin/v1/media/protect/{mediaId}`
pub async fn protect(
    State(state): State<AppState>,
    request: Ruma<endpoints::protect_media::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let media = &state.services.media;
    let server = media.server_name().to_owned();
    media
        .set_protected(&server, &request.body.media_id, true)
        .await?;
    Ok(Json(json!({})))
}

/// # `POST /_synapse/admin/v1/media/unprotect/{mediaId}`
pub async fn unprotect(
    State(state): State<AppState>,
    request: Ruma<endpoints::unprotect_media::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let media = &state.services.media;
    let server = media.server_name().to_owned();
    media
        .set_protected(&server, &request.body.media_id, false)
        .await?;
    Ok(Json(json!({})))
}

/// # `POST /_synapse/admin/v1/user/{userId}/media/quarantine`
///
/// Every upload of the user except protected ones; answers how many.
pub async fn quarantine_user_media(
    State(state): State<AppState>,
    request: Ruma<endpoints::quarantine_user_media::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    require_admin(&state, identity)?;
    let user_id = &request.body.user_id;
    let media = &state.services.media;
    let mut quarantined = 0;
    for entry in uploads_of(&state, user_id)? {
        if entry.record.safe_from_quarantine || entry.record.quarantined_by.is_some() {
            continue;
        }
        media
            .set_quarantined(&entry.server, &entry.media_id, Some(&identity.user_id))
            .await?;
        quarantined += 1;
    }
    Ok(Json(json!({ "num_quarantined": quarantined })))
}

/// The media the room's events point at (`content.url` and `content.info.thumbnail_url`, as
/// Synapse reads them; encrypted events' media is out of sight), each once, oldest first.
fn room_media_uris(state: &AppState, room_id: &RoomId) -> Result<Vec<OwnedMxcUri>, ApiError> {
    let rooms = &state.services.rooms;
    if rooms.room_info(room_id)?.is_none() {
        return Err(Error::NotFound("Room not found".into()).into());
    }
    let page = rooms.timeline_where(
        room_id,
        0,
        u64::MAX,
        Direction::Forward,
        usize::MAX - 1,
        |_, _| true,
    )?;
    let mut seen = std::collections::BTreeSet::new();
    let mut uris = Vec::new();
    for (_, event) in page.events {
        let content = event.content_json();
        let found = [
            content.get("url"),
            content
                .get("info")
                .and_then(|info| info.get("thumbnail_url")),
        ];
        for uri in found.into_iter().flatten().filter_map(JsonValue::as_str) {
            let uri = OwnedMxcUri::from(uri);
            if uri.parts().is_ok() && seen.insert(uri.clone()) {
                uris.push(uri);
            }
        }
    }
    Ok(uris)
}

/// # `GET /_synapse/admin/v1/room/{roomId}/media`
///
/// `local` and `remote` lists of `mxc://` URIs.
pub async fn room_media(
    State(state): State<AppState>,
    request: Ruma<endpoints::room_media::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let ours = state.services.media.server_name().to_owned();
    let (local, remote): (Vec<_>, Vec<_>) = room_media_uris(&state, &request.body.room_id)?
        .into_iter()
        .partition(|uri| uri.server_name().is_ok_and(|server| server == ours));
    Ok(Json(json!({ "local": local, "remote": remote })))
}

/// Quarantines the media of a room's events that is stored here (protected media stays).
async fn quarantine_room(
    state: &AppState,
    admin: &ruma::UserId,
    room_id: &RoomId,
) -> Result<Json<JsonValue>, ApiError> {
    let media = &state.services.media;
    let mut quarantined = 0;
    for uri in room_media_uris(state, room_id)? {
        let Ok((server, media_id)) = uri.parts() else {
            continue;
        };
        let Some(record) = media.record(server, media_id)? else {
            continue;
        };
        if record.safe_from_quarantine || record.quarantined_by.is_some() {
            continue;
        }
        media.set_quarantined(server, media_id, Some(admin)).await?;
        quarantined += 1;
    }
    Ok(Json(json!({ "num_quarantined": quarantined })))
}

/// # `POST /_synapse/admin/v1/room/{roomId}/media/quarantine`
pub async fn quarantine_room_media(
    State(state): State<AppState>,
    request: Ruma<endpoints::quarantine_room_media::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    require_admin(&state, identity)?;
    quarantine_room(&state, &identity.user_id, &request.body.room_id).await
}

/// # `POST /_synapse/admin/v1/quarantine_media/{roomId}` (Synapse's older path)
pub async fn quarantine_room_media_legacy(
    State(state): State<AppState>,
    request: Ruma<endpoints::quarantine_room_media_legacy::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    require_admin(&state, identity)?;
    quarantine_room(&state, &identity.user_id, &request.body.room_id).await
}
