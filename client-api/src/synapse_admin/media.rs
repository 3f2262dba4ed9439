//! Media, for administrators: one piece's details, deleting it (local media), deleting local
//! media by date and size, purging the cache of remote media, a user's uploads (listed and
//! deleted), quarantine (served to nobody) and protection from it. In Synapse's shapes.

use axum::{Json, extract::State, http::Uri};
use myelin_core::{Error, media::MediaEntry};
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

/// # `POST /_synapse/admin/v1/media/delete?before_ts=…&size_gt=…`
///
/// Local media last accessed before `before_ts` (ms) and larger than `size_gt` bytes;
/// protected media stays (Synapse's `keep_profiles` keeps avatars: Myelin does not tell them
/// apart, so it is refused unless `false`).
pub async fn delete_media_before(
    State(state): State<AppState>,
    uri: Uri,
    request: Ruma<endpoints::delete_media_before::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let before: u64 = query_parameter(&uri, "before_ts")
        .and_then(|before| before.parse().ok())
        .ok_or_else(|| Error::MissingParam("Missing integer query parameter 'before_ts'".into()))?;
    let size_gt: u64 = query_parameter(&uri, "size_gt")
        .and_then(|size| size.parse().ok())
        .unwrap_or(0);
    if query_parameter(&uri, "keep_profiles").as_deref() != Some("false") {
        return Err(Error::InvalidParam(
            "This server cannot tell avatars apart: pass keep_profiles=false".into(),
        )
        .into());
    }
    let media = &state.services.media;
    let doomed: Vec<MediaEntry> = media
        .entries()?
        .into_iter()
        .filter(|entry| {
            entry.server == *media.server_name()
                && !entry.record.remote
                && !entry.record.safe_from_quarantine
                && entry.record.last_access_ms < before
                && entry.record.size > size_gt
        })
        .collect();
    media.delete_entries(&doomed).await?;
    Ok(deleted(&doomed))
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
