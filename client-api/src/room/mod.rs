//! Room endpoints that are about the room as a whole, and the helpers every room endpoint shares.
pub mod create_room;
pub mod get_context;
pub mod get_event_by_timestamp;
pub mod get_hierarchy;
pub mod get_room_event;
pub mod get_summary;
pub mod initial_sync;
pub mod report;
pub mod upgrade_room;

use myelin_core::{
    Error,
    rooms::{MemberProfile, PduEvent},
    users::Identity,
};
use ruma::UserId;
use serde_json::Value as JsonValue;

use crate::{ApiError, AppState};

/// Stream tokens look like Synapse's (`s42`), so clients never mistake one for a number.
pub(crate) fn format_token(position: u64) -> String {
    format!("s{position}")
}

pub(crate) fn parse_token(token: &str) -> Result<u64, ApiError> {
    // A `/sync` token (`s42_1700000000000`) is a valid pagination token too, as in Synapse:
    // its first part is the event position.
    let events = token.split('_').next().unwrap_or(token);
    events
        .strip_prefix('s')
        .unwrap_or(events)
        .parse()
        .map_err(|_| {
            ApiError::Core(Error::InvalidParam(format!(
                "Invalid pagination token {token}"
            )))
        })
}

/// An event as `identity` should see it: redacted when an erased user sent it and the reader
/// was not in the room then (every event a client reads passes here), with
/// `unsigned.transaction_id` when their own device sent it.
pub(crate) fn client_event(
    state: &AppState,
    pdu: &PduEvent,
    identity: &Identity,
    with_room_id: bool,
) -> JsonValue {
    let rooms = &state.services.rooms;
    let position = rooms.event_position(&pdu.event_id).ok().flatten();
    let pruned = position.and_then(|position| {
        rooms
            .seen_by(&pdu.room(), &identity.user_id, position, pdu)
            .ok()
            .flatten()
    });
    let pdu = pruned.as_ref().unwrap_or(pdu);
    let mut event = pdu.to_client_event(with_room_id);
    let now = myelin_core::users::now_ms();
    event["unsigned"]["age"] = now.saturating_sub(u64::from(pdu.origin_server_ts.0)).into();
    if pdu.is_state()
        && let Ok(Some(previous)) = state.services.rooms.replaced_state(&pdu.event_id)
    {
        // Synapse's fields: clients render "changed their name" and the like from these.
        event["unsigned"]["replaces_state"] = previous.event_id.as_str().into();
        event["unsigned"]["prev_content"] = previous.content_json();
        event["unsigned"]["prev_sender"] = previous.sender.as_str().into();
    }
    // The reader's membership at the event (spec 1.11), `leave` when they had none
    // [Complement TestMembershipOnEvents].
    if let Some(position) = position {
        let membership = rooms
            .membership_at(&pdu.room(), &identity.user_id, position)
            .ok()
            .flatten()
            .map_or("leave", |membership| membership.as_str());
        event["unsigned"]["membership"] = membership.into();
    }
    let up_to = state.services.notifier.current();
    if let Ok(Some(relations)) =
        state
            .services
            .rooms
            .bundled_aggregations(pdu, &identity.user_id, up_to)
    {
        event["unsigned"]["m.relations"] = relations;
    }
    if pdu.sender == identity.user_id
        && let Ok(Some(txn_id)) = state.services.rooms.transaction_id_of(
            &pdu.event_id,
            &identity.user_id,
            &identity.device_id,
        )
    {
        event["unsigned"]["transaction_id"] = txn_id.into();
    }
    event
}

/// The display name and avatar a member event of `user_id` should carry.
pub(crate) fn member_profile(state: &AppState, user_id: &UserId) -> MemberProfile {
    let profile = state.services.users.profile(user_id).unwrap_or_default();
    let field = |name: &str| {
        profile
            .get(name)
            .and_then(JsonValue::as_str)
            .map(str::to_owned)
    };
    MemberProfile {
        displayname: field("displayname"),
        avatar_url: field("avatar_url"),
        extra: serde_json::Map::new(),
    }
}

/// A room id, or the room an alias points at (asking the alias's server for a remote one), with
/// servers that are in it.
pub(crate) async fn resolve_room(
    state: &AppState,
    target: &ruma::RoomOrAliasId,
) -> Result<(ruma::OwnedRoomId, Vec<ruma::OwnedServerName>), ApiError> {
    match <&ruma::RoomAliasId>::try_from(target) {
        Ok(alias) if alias.server_name() == state.services.rooms.server_name() => Ok((
            state
                .services
                .rooms
                .resolve_local_alias(alias)?
                .ok_or_else(|| Error::NotFound("Room alias not found".into()))?,
            Vec::new(),
        )),
        Ok(alias) => Ok(state
            .services
            .federation
            .get()?
            .query_directory(&alias.to_owned())
            .await?),
        Err(room_id) => Ok((room_id.to_owned(), Vec::new())),
    }
}

/// Joins a room: locally when this server is in it, through another server otherwise.
pub(crate) async fn join_anywhere(
    state: &AppState,
    user_id: &UserId,
    room_id: &ruma::RoomId,
    via: Vec<ruma::OwnedServerName>,
    reason: Option<&str>,
    body: Option<&JsonValue>,
) -> Result<ruma::OwnedRoomId, ApiError> {
    let rooms = &state.services.rooms;
    rooms.check_not_blocked(room_id)?;
    let mut profile = member_profile(state, user_id);
    if let Some(extra) = body.and_then(JsonValue::as_object) {
        profile.extra = extra.clone();
    }
    let resident = rooms.is_resident(room_id)?;
    // In a restricted room this server cannot authorise the join for: through the others.
    let through_others = resident && rooms.join_needs_remote_authoriser(room_id, user_id)?;
    let via = if through_others {
        let own = rooms.server_name();
        let mut servers = via;
        servers.extend(
            rooms
                .joined_servers(room_id)?
                .into_iter()
                .filter(|server| server != own),
        );
        servers
    } else {
        via
    };
    if (!resident || (through_others && !via.is_empty()))
        && let Ok(federation) = state.services.federation.get()
    {
        match federation
            .join_remote(
                user_id,
                room_id,
                via,
                profile.clone(),
                reason.map(str::to_owned),
            )
            .await
        {
            Ok(room_id) => {
                carry_over_push_rules(state, user_id, &room_id).await;
                return Ok(room_id);
            }
            // A room of ours that every local user left: join it here if the rules allow.
            Err(Error::NotFound(_)) if rooms.room_info(room_id)?.is_some() => {}
            Err(error) => return Err(error.into()),
        }
    }
    rooms.join(room_id, user_id, &profile, reason).await?;
    carry_over_push_rules(state, user_id, room_id).await;
    Ok(room_id.to_owned())
}

/// A user arriving in an upgraded room keeps the push rules they had for its predecessor
/// (Synapse copies them on join; the upgrader gets theirs at the upgrade).
pub(crate) async fn carry_over_push_rules(
    state: &AppState,
    user_id: &UserId,
    room_id: &ruma::RoomId,
) {
    let Ok(Some(predecessor)) = state.services.rooms.predecessor(room_id) else {
        return;
    };
    if let Err(error) = state
        .services
        .users
        .copy_room_push_rules(user_id, &predecessor, room_id)
        .await
    {
        tracing::warn!(%user_id, %room_id, %error, "push rules not carried over to the upgraded room");
    }
}
