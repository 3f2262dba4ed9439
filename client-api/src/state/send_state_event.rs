//! `PUT /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}`

use axum::{
    extract::{RawQuery, State},
    response::IntoResponse,
};
use myelin_core::Error;
use ruma::api::client::state::send_state_event::v3;

use crate::{ApiError, AppState, Ruma, RumaResponse};

/// # `PUT /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}`
pub async fn send_state_event(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    request: Ruma<v3::Request>,
) -> Result<axum::response::Response, ApiError> {
    let identity = request.identity()?;
    // Suspended accounts may read and leave, not act (spec 1.18).
    state
        .services
        .users
        .check_not_suspended(&identity.user_id)?;
    state.check_message_rate(identity)?;
    let body = &request.body;
    let content = request
        .json
        .clone()
        .filter(|json| json.is_object())
        .ok_or_else(|| ApiError::bad_json("Event content must be a JSON object"))?;
    let kind = body.event_type.to_string();
    // Synapse's shadow-ban covers every state event but memberships.
    if kind != "m.room.member"
        && let Some(event_id) = state.shadow_banned_event(identity)
    {
        return Ok(RumaResponse(v3::Response::new(event_id)).into_response());
    }
    // `?org.matrix.msc4140.delay=`: scheduled, answered with a delay id (MSC4140).
    if let Some(delay) = crate::delayed::requested_delay(query.as_deref())? {
        return crate::delayed::schedule(
            &state,
            identity,
            &body.room_id,
            &kind,
            Some(body.state_key.clone()),
            content,
            delay,
        )
        .await
        .map(IntoResponse::into_response);
    }
    if kind == "m.room.canonical_alias" {
        check_canonical_alias(&state, &body.room_id, &content)?;
    }
    if kind == "m.room.member" {
        let target = ruma::UserId::parse(body.state_key.as_str()).map_err(|_| {
            Error::InvalidParam("The state key of a member event is a user id".into())
        })?;
        let federation = state.services.federation.get().ok();
        let event_id = state
            .services
            .rooms
            .send_member_state(
                federation.as_deref(),
                &body.room_id,
                &identity.user_id,
                &target,
                content,
            )
            .await?;
        cancel_replaced(&state, identity, &body.room_id, &kind, &body.state_key).await;
        return Ok(RumaResponse(v3::Response::new(event_id)).into_response());
    }
    let event_id = state
        .services
        .rooms
        .send_state(
            &body.room_id,
            &identity.user_id,
            &kind,
            &body.state_key,
            content,
            // Timestamp massaging (`?ts=`) is for appservices only.
            body.timestamp
                .filter(|_| identity.appservice_id.is_some())
                .map(|ts| u64::from(ts.0)),
        )
        .await?;
    cancel_replaced(&state, identity, &body.room_id, &kind, &body.state_key).await;
    Ok(RumaResponse(v3::Response::new(event_id)).into_response())
}

/// A state event the user sends replaces the delayed ones they scheduled for the same room,
/// type and key (MSC4140): those are cancelled.
async fn cancel_replaced(
    state: &AppState,
    identity: &myelin_core::users::Identity,
    room_id: &ruma::RoomId,
    kind: &str,
    state_key: &str,
) {
    if let Err(error) = state
        .services
        .rooms
        .cancel_delayed_state(&identity.user_id, room_id, kind, state_key)
        .await
    {
        tracing::warn!(%error, "could not cancel replaced delayed events");
    }
}

/// The spec requires the aliases of `m.room.canonical_alias` to point at this room
/// (`M_BAD_ALIAS` otherwise). Aliases on other servers cannot be checked without federation and
/// are accepted, as Synapse accepts them when the remote server is unreachable.
fn check_canonical_alias(
    state: &AppState,
    room_id: &ruma::RoomId,
    content: &serde_json::Value,
) -> Result<(), ApiError> {
    let mut aliases: Vec<&str> = content
        .get("alt_aliases")
        .and_then(|value| value.as_array())
        .into_iter()
        .flatten()
        .filter_map(|value| value.as_str())
        .collect();
    if let Some(alias) = content.get("alias").and_then(|value| value.as_str()) {
        aliases.push(alias);
    }
    for alias in aliases {
        let parsed = ruma::RoomAliasId::parse(alias)
            .map_err(|_| Error::InvalidParam(format!("{alias} is not a valid alias")))?;
        if parsed.server_name() != state.services.rooms.server_name() {
            continue;
        }
        if state
            .services
            .rooms
            .resolve_local_alias(&parsed)?
            .as_deref()
            != Some(room_id)
        {
            return Err(ApiError::http(
                axum::http::StatusCode::BAD_REQUEST,
                "M_BAD_ALIAS",
                format!("{alias} does not point to this room"),
            ));
        }
    }
    Ok(())
}
