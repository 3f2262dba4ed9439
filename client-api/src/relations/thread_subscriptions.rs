//! Thread subscriptions (MSC4306): `PUT`/`GET`/`DELETE
//! /_matrix/client/unstable/io.element.msc4306/rooms/{roomId}/thread/{threadRoot}/subscription`,
//! and their changes (MSC4308): `GET /_matrix/client/unstable/io.element.msc4308/thread_subscriptions`.

use axum::{
    Json,
    extract::{Path, Request, State},
    http::StatusCode,
};
use myelin_core::{
    Error,
    rooms::{ThreadSubscription, ThreadSubscriptionRefusal},
};
use ruma::{OwnedEventId, OwnedRoomId};
use serde_json::{Map, Value as JsonValue, json};

use crate::{ApiError, AppState, extract::authenticate_parts};

fn ids(room_id: &str, thread_root: &str) -> Result<(OwnedRoomId, OwnedEventId), ApiError> {
    let room_id = OwnedRoomId::try_from(room_id)
        .map_err(|error| Error::InvalidParam(format!("Bad room id: {error}")))?;
    let thread_root = OwnedEventId::try_from(thread_root)
        .map_err(|error| Error::InvalidParam(format!("Bad thread root: {error}")))?;
    Ok((room_id, thread_root))
}

/// # `PUT …/thread/{threadRoot}/subscription` (`{"automatic": eventId}` or `{}`)
pub async fn subscribe(
    State(state): State<AppState>,
    Path((room_id, thread_root)): Path<(String, String)>,
    request: Request,
) -> Result<Json<JsonValue>, ApiError> {
    let (parts, body) = request.into_parts();
    let identity = authenticate_parts(&parts, &state)?;
    let (room_id, thread_root) = ids(&room_id, &thread_root)?;
    let bytes = axum::body::to_bytes(body, 1 << 12)
        .await
        .map_err(|_| Error::TooLarge("The request is too large".into()))?;
    let body = if bytes.is_empty() {
        json!({})
    } else {
        crate::extract::parse_json_body(&bytes)?
    };
    let automatic = match body.get("automatic") {
        None | Some(JsonValue::Null) => None,
        Some(JsonValue::String(id)) => {
            Some(OwnedEventId::try_from(id.as_str()).map_err(|error| {
                Error::InvalidParam(format!("automatic is not an event id: {error}"))
            })?)
        }
        Some(_) => return Err(Error::InvalidParam("automatic is an event id".into()).into()),
    };
    let outcome = state
        .services
        .rooms
        .subscribe_thread(
            &identity.user_id,
            &room_id,
            &thread_root,
            automatic.as_deref(),
        )
        .await?;
    match outcome {
        Ok(()) => Ok(Json(json!({}))),
        Err(ThreadSubscriptionRefusal::NotInThread) => Err(ApiError::http(
            StatusCode::BAD_REQUEST,
            "IO.ELEMENT.MSC4306.M_NOT_IN_THREAD",
            "The event is not in this thread",
        )),
        Err(ThreadSubscriptionRefusal::ConflictingUnsubscription) => Err(ApiError::http(
            StatusCode::CONFLICT,
            "IO.ELEMENT.MSC4306.M_CONFLICTING_UNSUBSCRIPTION",
            "You unsubscribed from this thread after that event",
        )),
    }
}

/// # `GET …/thread/{threadRoot}/subscription`
pub async fn get(
    State(state): State<AppState>,
    Path((room_id, thread_root)): Path<(String, String)>,
    request: Request,
) -> Result<Json<JsonValue>, ApiError> {
    let (parts, _) = request.into_parts();
    let identity = authenticate_parts(&parts, &state)?;
    let (room_id, thread_root) = ids(&room_id, &thread_root)?;
    let subscription = state
        .services
        .rooms
        .thread_subscription(&identity.user_id, &room_id, &thread_root)?
        .ok_or_else(|| Error::NotFound("You are not subscribed to this thread".into()))?;
    Ok(Json(json!({ "automatic": subscription.automatic })))
}

/// # `DELETE …/thread/{threadRoot}/subscription`
pub async fn unsubscribe(
    State(state): State<AppState>,
    Path((room_id, thread_root)): Path<(String, String)>,
    request: Request,
) -> Result<Json<JsonValue>, ApiError> {
    let (parts, _) = request.into_parts();
    let identity = authenticate_parts(&parts, &state)?;
    let (room_id, thread_root) = ids(&room_id, &thread_root)?;
    state
        .services
        .rooms
        .unsubscribe_thread(&identity.user_id, &room_id, &thread_root)
        .await?;
    Ok(Json(json!({})))
}

/// Changes as MSC4308 shapes them: `subscribed` and `unsubscribed`, by room and thread root.
pub(crate) fn shape_changes(changes: &[ThreadSubscription]) -> (JsonValue, JsonValue) {
    let mut subscribed = Map::new();
    let mut unsubscribed = Map::new();
    for change in changes {
        let (target, entry) = if change.subscribed {
            (
                &mut subscribed,
                json!({ "automatic": change.automatic, "bump_stamp": change.bump_stamp }),
            )
        } else {
            (
                &mut unsubscribed,
                json!({ "bump_stamp": change.bump_stamp }),
            )
        };
        let room = target
            .entry(change.room_id.to_string())
            .or_insert_with(|| json!({}));
        room[change.thread_root.as_str()] = entry;
    }
    (
        JsonValue::Object(subscribed),
        JsonValue::Object(unsubscribed),
    )
}

/// # `GET /_matrix/client/unstable/io.element.msc4308/thread_subscriptions?dir=b&from&to&limit`
///
/// Newest first, from `from` (a bump stamp, exclusive; now when absent) down to `to`
/// (exclusive); `end` pages on.
pub async fn changes(
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<JsonValue>, ApiError> {
    let (parts, _) = request.into_parts();
    let identity = authenticate_parts(&parts, &state)?;
    let parameter = |name: &str| crate::extract::query_parameter(&parts.uri, name);
    if parameter("dir").is_some_and(|dir| dir != "b") {
        return Err(Error::InvalidParam("Only dir=b is supported".into()).into());
    }
    let number = |name: &str| -> Result<Option<u64>, ApiError> {
        parameter(name)
            .map(|value| {
                value
                    .parse::<u64>()
                    .map_err(|_| ApiError::from(Error::InvalidParam(format!("Bad {name}"))))
            })
            .transpose()
    };
    let up_to = number("from")?.map_or(state.services.notifier.current(), |from| {
        from.saturating_sub(1)
    });
    let after = number("to")?.unwrap_or(0);
    let limit = number("limit")?.map_or(100, |limit| limit.clamp(1, 1000)) as usize;
    let (changes, more) =
        state
            .services
            .rooms
            .thread_subscription_changes(&identity.user_id, after, up_to, limit)?;
    let (subscribed, unsubscribed) = shape_changes(&changes);
    let mut response = Map::new();
    if subscribed.as_object().is_some_and(|map| !map.is_empty()) {
        response.insert("subscribed".into(), subscribed);
    }
    if unsubscribed.as_object().is_some_and(|map| !map.is_empty()) {
        response.insert("unsubscribed".into(), unsubscribed);
    }
    if more && let Some(oldest) = changes.last() {
        response.insert("end".into(), oldest.bump_stamp.to_string().into());
    }
    Ok(Json(JsonValue::Object(response)))
}
