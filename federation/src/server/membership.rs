//! Membership handshakes with other servers' users: `make_join`/`send_join`, `make_leave`/
//! `send_leave`, `make_knock`/`send_knock` (this server as the resident), and `invite` (this
//! server as the invitee's).

use axum::{Json, extract::State};
use myelin_core::{
    Error, Result,
    rooms::{EventSpec, IngestOutcome, Membership, RemoteEvent},
};
use ruma::{
    CanonicalJsonObject, EventId, OwnedUserId, RoomId, RoomVersionId, ServerName, UserId,
    api::federation::membership::{
        RawStrippedState, create_invite, create_join_event, create_knock_event, create_leave_event,
        prepare_join_event, prepare_knock_event, prepare_leave_event,
    },
};
use serde_json::{Value as JsonValue, json, value::to_raw_value};

use super::{FedResult, RumaResponse, Signed};
use crate::Federation;

fn raw(value: &impl serde::Serialize) -> Result<Box<serde_json::value::RawValue>> {
    to_raw_value(value).map_err(|error| Error::Internal(error.to_string()))
}

impl Federation {
    /// The checks every `make_*` request shares; returns the template.
    fn membership_template(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        user_id: &UserId,
        membership: Membership,
        supported_by_origin: Option<&[RoomVersionId]>,
    ) -> Result<(RoomVersionId, CanonicalJsonObject)> {
        if user_id.server_name() != origin {
            return Err(Error::Forbidden(format!(
                "{origin} cannot act for {user_id}"
            )));
        }
        let info = self.services.rooms.existing_room(room_id)?;
        if self
            .services
            .rooms
            .local_joined_members(room_id)?
            .is_empty()
        {
            return Err(Error::NotFound("This server is not in the room".into()));
        }
        if !self.acl_allows(room_id, origin)? {
            return Err(Error::Forbidden(
                "The room's server ACL forbids your server".into(),
            ));
        }
        if let Some(versions) = supported_by_origin
            && !versions.contains(&info.room_version)
        {
            return Err(Error::UnsupportedRoomVersion(format!(
                "Your server does not support room version {}",
                info.room_version
            )));
        }
        let mut content = json!({ "membership": membership.as_str() });
        if membership == Membership::Join
            && let Some(authoriser) = self
                .services
                .rooms
                .restricted_join_authoriser(room_id, user_id)?
        {
            content["join_authorised_via_users_server"] = authoriser.as_str().into();
        }
        let spec = EventSpec::state(
            ruma::events::TimelineEventType::RoomMember,
            user_id.as_str(),
            content,
        );
        let (version, mut template) = self
            .services
            .rooms
            .event_template(room_id, user_id, &spec)?;
        // What the rules would refuse is refused now, as Synapse's `make_*` do: a banned user
        // gets 403, not a template [Complement TestKnocking, banned].
        self.services.rooms.check_template(room_id, &template)?;
        // The joining server adds these itself.
        template.remove("hashes");
        template.remove("signatures");
        Ok((version, template))
    }

    /// The checks every `send_*` request shares; places the event and returns it.
    async fn accept_membership(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        event_id: &EventId,
        pdu: &serde_json::value::RawValue,
        membership: Membership,
    ) -> Result<RemoteEvent> {
        if !self.acl_allows(room_id, origin)? {
            return Err(Error::Forbidden(
                "The room's server ACL forbids your server".into(),
            ));
        }
        let rules = self.room_rules(room_id)?;
        let mut value: JsonValue =
            serde_json::from_str(pdu.get()).map_err(|error| Error::BadJson(error.to_string()))?;
        // A restricted join names one of our users as its authoriser: the event must carry our
        // signature to verify at all (the authoriser's server is one of its required signers),
        // so we sign it before checking it; if it fails any check, the signed copy is dropped.
        let authoriser = value
            .get("content")
            .and_then(|content| content.get("join_authorised_via_users_server"))
            .and_then(JsonValue::as_str)
            .and_then(|user| UserId::parse(user).ok());
        if membership == Membership::Join
            && let Some(authoriser) = &authoriser
            && authoriser.server_name() == self.services.rooms.server_name()
        {
            let mut object: CanonicalJsonObject = serde_json::from_value(value)
                .map_err(|error| Error::BadJson(format!("PDU is not canonical JSON: {error}")))?;
            let info = self.services.rooms.existing_room(room_id)?;
            self.services
                .rooms
                .sign_foreign_event(&info.room_version, &mut object)?;
            value =
                serde_json::to_value(object).map_err(|error| Error::Internal(error.to_string()))?;
        }
        let event = self.check_pdu(&value, &rules).await?;
        if event.event_id != event_id {
            return Err(Error::InvalidParam(format!(
                "The event's id is {}, not {event_id}",
                event.event_id
            )));
        }
        let parsed = event.pdu()?;
        let sender_ok = parsed.state_key.as_deref() == Some(parsed.sender.as_str())
            && parsed.sender.server_name() == origin;
        if parsed.room() != room_id
            || !myelin_core::rooms::Rooms::is_membership_event(&parsed, membership)
            || !sender_ok
        {
            return Err(Error::BadJson(format!(
                "Expected a {} of {origin}'s own user in this room",
                membership.as_str()
            )));
        }
        // The federation sender relays it to the room's other servers from the stream.
        let outcome = self
            .services
            .rooms
            .ingest_relayed(room_id, event.clone(), origin)
            .await?;
        match outcome {
            IngestOutcome::Persisted(_) | IngestOutcome::AlreadyKnown => {}
            IngestOutcome::SoftFailed => {
                return Err(Error::Forbidden(
                    "The current room state does not allow this".into(),
                ));
            }
        }
        Ok(event)
    }
}

/// # `GET /_matrix/federation/v1/make_join/{roomId}/{userId}`
pub async fn make_join(
    State(state): State<super::State>,
    request: Signed<prepare_join_event::v1::Request>,
) -> FedResult<RumaResponse<prepare_join_event::v1::Response>> {
    let body = &request.body;
    // Without `ver` the origin only speaks room version 1.
    let versions = if body.ver.is_empty() {
        vec![RoomVersionId::V1]
    } else {
        body.ver.clone()
    };
    let (version, template) = state.membership_template(
        &request.origin,
        &body.room_id,
        &body.user_id,
        Membership::Join,
        Some(&versions),
    )?;
    let mut response = prepare_join_event::v1::Response::new(raw(&template)?);
    response.room_version = Some(version);
    Ok(RumaResponse(response))
}

/// # `PUT /_matrix/federation/v2/send_join/{roomId}/{eventId}`
pub async fn send_join(
    State(state): State<super::State>,
    request: Signed<create_join_event::v2::Request>,
) -> FedResult<RumaResponse<create_join_event::v2::Response>> {
    Ok(RumaResponse(create_join_event::v2::Response::new(
        join_answer(&state, &request).await?,
    )))
}

/// # `PUT /_matrix/federation/v1/send_join/{roomId}/{eventId}`
///
/// The first version, which Synapse still serves and older servers still call: the same
/// checks and answer, in its `[200, {origin, auth_chain, state, event}]` shape (the body and
/// path are those of v2, so v2's request type reads them).
pub async fn send_join_v1(
    State(state): State<super::State>,
    request: Signed<create_join_event::v2::Request>,
) -> FedResult<Json<JsonValue>> {
    let room_state = join_answer(&state, &request).await?;
    let mut answer =
        serde_json::to_value(&room_state).map_err(|error| Error::Internal(error.to_string()))?;
    answer["origin"] = state.services.rooms.server_name().as_str().into();
    Ok(Json(json!([200, answer])))
}

/// Accepts a join sent with `send_join` and answers the state before it, its auth chain and
/// the join as this server signed it.
async fn join_answer(
    state: &super::State,
    request: &Signed<create_join_event::v2::Request>,
) -> Result<create_join_event::v2::RoomState> {
    let body = &request.body;
    let event = state
        .accept_membership(
            &request.origin,
            &body.room_id,
            &body.event_id,
            &body.pdu,
            Membership::Join,
        )
        .await?;
    let rooms = &state.services.rooms;
    let before = rooms
        .state_before_event(&event.event_id)?
        .ok_or_else(|| Error::Internal("the join has no state".into()))?;
    let state_ids: Vec<_> = before.values().cloned().collect();
    let mut room_state = create_join_event::v2::RoomState::new();
    for id in &state_ids {
        if let Some(json) = rooms.pdu_json(id)? {
            room_state.state.push(raw(&json)?);
        }
    }
    for id in rooms.auth_chain(state_ids)? {
        if let Some(json) = rooms.pdu_json(&id)? {
            room_state.auth_chain.push(raw(&json)?);
        }
    }
    room_state.event = Some(raw(&event.object)?);
    room_state.servers_in_room = Some(
        rooms
            .joined_servers(&body.room_id)?
            .into_iter()
            .map(|server| server.to_string())
            .collect(),
    );
    Ok(room_state)
}

/// # `GET /_matrix/federation/v1/make_leave/{roomId}/{userId}`
pub async fn make_leave(
    State(state): State<super::State>,
    request: Signed<prepare_leave_event::v1::Request>,
) -> FedResult<RumaResponse<prepare_leave_event::v1::Response>> {
    let body = &request.body;
    let (version, template) = state.membership_template(
        &request.origin,
        &body.room_id,
        &body.user_id,
        Membership::Leave,
        None,
    )?;
    Ok(RumaResponse(prepare_leave_event::v1::Response::new(
        Some(version),
        raw(&template)?,
    )))
}

/// # `PUT /_matrix/federation/v1/send_leave/{roomId}/{eventId}`
///
/// The first version (see [`send_join_v1`]): `[200, {}]`.
pub async fn send_leave_v1(
    State(state): State<super::State>,
    request: Signed<create_leave_event::v2::Request>,
) -> FedResult<Json<JsonValue>> {
    let body = &request.body;
    state
        .accept_membership(
            &request.origin,
            &body.room_id,
            &body.event_id,
            &body.pdu,
            Membership::Leave,
        )
        .await?;
    Ok(Json(json!([200, {}])))
}

/// # `PUT /_matrix/federation/v2/send_leave/{roomId}/{eventId}`
pub async fn send_leave(
    State(state): State<super::State>,
    request: Signed<create_leave_event::v2::Request>,
) -> FedResult<RumaResponse<create_leave_event::v2::Response>> {
    let body = &request.body;
    state
        .accept_membership(
            &request.origin,
            &body.room_id,
            &body.event_id,
            &body.pdu,
            Membership::Leave,
        )
        .await?;
    Ok(RumaResponse(create_leave_event::v2::Response::new()))
}

/// # `GET /_matrix/federation/v1/make_knock/{roomId}/{userId}`
pub async fn make_knock(
    State(state): State<super::State>,
    request: Signed<prepare_knock_event::v1::Request>,
) -> FedResult<RumaResponse<prepare_knock_event::v1::Response>> {
    let body = &request.body;
    let (version, template) = state.membership_template(
        &request.origin,
        &body.room_id,
        &body.user_id,
        Membership::Knock,
        Some(&body.ver),
    )?;
    Ok(RumaResponse(prepare_knock_event::v1::Response::new(
        version,
        raw(&template)?,
    )))
}

/// # `PUT /_matrix/federation/v1/send_knock/{roomId}/{eventId}`
pub async fn send_knock(
    State(state): State<super::State>,
    request: Signed<create_knock_event::v1::Request>,
) -> FedResult<Json<JsonValue>> {
    let body = &request.body;
    let event = state
        .accept_membership(
            &request.origin,
            &body.room_id,
            &body.event_id,
            &body.pdu,
            Membership::Knock,
        )
        .await?;
    let knocker = event.pdu()?.sender;
    let stripped = state
        .services
        .rooms
        .stripped_state(&body.room_id, &knocker)?;
    Ok(Json(json!({ "knock_room_state": stripped })))
}

/// Signs an invite of one of our users and remembers it when we are not in the room.
async fn accept_invite(
    state: &Federation,
    origin: &ServerName,
    room_version: &RoomVersionId,
    event_id: &EventId,
    event: &JsonValue,
    invite_room_state: Vec<JsonValue>,
) -> Result<CanonicalJsonObject> {
    let rules = room_version
        .rules()
        .filter(|_| myelin_core::rooms::SUPPORTED_ROOM_VERSIONS.contains(room_version));
    let Some(rules) = rules else {
        return Err(Error::UnsupportedRoomVersion(format!(
            "This server does not support room version {room_version}"
        )));
    };
    let checked = state.check_pdu(event, &rules).await?;
    if checked.event_id != event_id {
        return Err(Error::InvalidParam(format!(
            "The event's id is {}, not {event_id}",
            checked.event_id
        )));
    }
    let pdu = checked.pdu()?;
    let invitee: OwnedUserId = pdu
        .state_key
        .as_deref()
        .and_then(|key| UserId::parse(key).ok())
        .ok_or_else(|| Error::BadJson("An invite needs a user id as state_key".into()))?;
    if !myelin_core::rooms::Rooms::is_membership_event(&pdu, Membership::Invite)
        || invitee.server_name() != state.services.rooms.server_name()
        || pdu.sender.server_name() != origin
    {
        return Err(Error::BadJson(format!(
            "Not an invite of one of our users sent by a user of {origin}"
        )));
    }
    if state.services.users.account(&invitee)?.is_none() {
        return Err(Error::NotFound(format!("{invitee} does not exist")));
    }
    if let Ok(room_id) = RoomId::parse(pdu.room().as_str())
        && state.services.rooms.room_info(&room_id)?.is_some()
        && !state.acl_allows(&room_id, origin)?
    {
        return Err(Error::Forbidden(
            "The room's server ACL forbids your server".into(),
        ));
    }
    // A local invitee who does not take invites from the inviter: refused, as the spec says
    // for blocked invites (an ignored one is taken and hidden from the invitee's sync).
    if let Some(invitee) = pdu
        .state_key
        .as_deref()
        .and_then(|key| UserId::parse(key).ok())
        && state.services.users.is_local(&invitee)
        && state
            .services
            .users
            .invite_decision(&invitee, &pdu.sender)?
            == myelin_core::users::InviteDecision::Block
    {
        return Err(Error::InviteBlocked(format!(
            "{invitee} does not take invites from {}",
            pdu.sender
        )));
    }
    let mut object = checked.object;
    state
        .services
        .rooms
        .sign_foreign_event(room_version, &mut object)?;
    let room_id = pdu.room();
    let resident = state.services.rooms.room_info(&room_id)?.is_some()
        && !state
            .services
            .rooms
            .local_joined_members(&room_id)?
            .is_empty();
    if !resident {
        state
            .services
            .rooms
            .store_remote_invite(event_id, &object, invite_room_state, room_version)
            .await?;
    }
    Ok(object)
}

/// # `PUT /_matrix/federation/v2/invite/{roomId}/{eventId}`
pub async fn invite_v2(
    State(state): State<super::State>,
    request: Signed<create_invite::v2::Request>,
) -> FedResult<RumaResponse<create_invite::v2::Response>> {
    let body = &request.body;
    let event: JsonValue = serde_json::from_str(body.event.get())
        .map_err(|error| Error::BadJson(error.to_string()))?;
    let stripped = body
        .invite_room_state
        .iter()
        .filter_map(stripped_event)
        .collect();
    let object = accept_invite(
        &state,
        &request.origin,
        &body.room_version,
        &body.event_id,
        &event,
        stripped,
    )
    .await?;
    Ok(RumaResponse(create_invite::v2::Response::new(raw(
        &object,
    )?)))
}

/// # `PUT /_matrix/federation/v1/invite/{roomId}/{eventId}`: refused. It carries no room
/// version and its body is not the signed event as sent (ruma drops its references), so it
/// cannot be checked; every server that speaks room versions after 1 (Synapse always has) sends
/// `/v2/invite`, for version 2 rooms too.
pub async fn invite_v1(_request: Signed<create_invite::v1::Request>) -> FedResult<Json<JsonValue>> {
    Err(
        Error::UnsupportedRoomVersion("This server takes invites through /v2/invite only".into())
            .into(),
    )
}

/// One entry of `invite_room_state` in the client's stripped shape (full PDUs since v1.16,
/// stripped events before).
#[allow(deprecated)]
pub(crate) fn stripped_event(raw: &RawStrippedState) -> Option<JsonValue> {
    let value: JsonValue = match raw {
        RawStrippedState::Pdu(pdu) => serde_json::from_str(pdu.get()).ok()?,
        RawStrippedState::Stripped(stripped) => serde_json::from_str(stripped.json().get()).ok()?,
        _ => return None,
    };
    Some(json!({
        "type": value.get("type")?,
        "state_key": value.get("state_key")?,
        "sender": value.get("sender")?,
        "content": value.get("content")?,
    }))
}
