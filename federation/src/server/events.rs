//! Reading a room's events over federation: single events, the state at an event, backfill,
//! missing events, auth chains and the event nearest a timestamp. Only servers with a member
//! in the room may read (or anyone, in a world-readable room).

use axum::extract::State;
use myelin_core::{Error, Result, rooms::Direction};
use ruma::{
    EventId, MilliSecondsSinceUnixEpoch, RoomId, ServerName,
    api::federation::{
        authorization::get_event_authorization,
        backfill::get_backfill,
        event::{
            get_event, get_event_by_timestamp, get_missing_events, get_room_state,
            get_room_state_ids,
        },
    },
};
use serde_json::value::{RawValue, to_raw_value};

use super::{FedResult, RumaResponse, Signed};
use crate::Federation;

fn raw(value: &serde_json::Value) -> Result<Box<RawValue>> {
    to_raw_value(value).map_err(|error| Error::Internal(error.to_string()))
}

impl Federation {
    /// Refuses servers that may not read the room.
    fn check_reader(&self, room_id: &RoomId, origin: &ServerName) -> Result<()> {
        let rooms = &self.services.rooms;
        rooms.existing_room(room_id)?;
        if !self.acl_allows(room_id, origin)? {
            return Err(Error::Forbidden(
                "The room's server ACL forbids your server".into(),
            ));
        }
        let world_readable = rooms
            .state_pdu(room_id, "m.room.history_visibility", "")?
            .is_some_and(|event| {
                event
                    .content_json()
                    .get("history_visibility")
                    .and_then(|v| v.as_str())
                    == Some("world_readable")
            });
        if world_readable || rooms.server_in_room(room_id, origin)? {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "{origin} has no member in this room"
            )))
        }
    }

    fn pdus(
        &self,
        ids: impl IntoIterator<Item = ruma::OwnedEventId>,
    ) -> Result<Vec<Box<RawValue>>> {
        let mut pdus = Vec::new();
        for id in ids {
            if let Some(json) = self.services.rooms.pdu_json(&id)? {
                pdus.push(raw(&json)?);
            }
        }
        Ok(pdus)
    }

    /// State ids before `event_id` and the auth chain ids of that state.
    fn state_at(
        &self,
        room_id: &RoomId,
        event_id: &EventId,
    ) -> Result<(Vec<ruma::OwnedEventId>, Vec<ruma::OwnedEventId>)> {
        let rooms = &self.services.rooms;
        if rooms.event_in_room(room_id, event_id)?.is_none() {
            return Err(Error::NotFound("Unknown event".into()));
        }
        let state = rooms
            .state_before_event(event_id)?
            .ok_or_else(|| Error::NotFound("No state is known at this event".into()))?;
        let ids: Vec<_> = state.values().cloned().collect();
        let chain = rooms.auth_chain(ids.iter().cloned())?.into_iter().collect();
        Ok((ids, chain))
    }
}

/// # `GET /_matrix/federation/v1/event/{eventId}`
pub async fn get_event(
    State(state): State<super::State>,
    request: Signed<get_event::v1::Request>,
) -> FedResult<RumaResponse<get_event::v1::Response>> {
    let pdu = state
        .services
        .rooms
        .pdu(&request.body.event_id)?
        .ok_or_else(|| Error::NotFound("Unknown event".into()))?;
    state.check_reader(&pdu.room(), &request.origin)?;
    let json = state
        .services
        .rooms
        .pdu_json_for_server(&request.origin, &request.body.event_id)?
        .ok_or_else(|| Error::NotFound("Unknown event".into()))?;
    Ok(RumaResponse(get_event::v1::Response::new(
        state.services.rooms.server_name().clone(),
        MilliSecondsSinceUnixEpoch::now(),
        raw(&json)?,
    )))
}

/// # `GET /_matrix/federation/v1/state/{roomId}`
pub async fn get_state(
    State(state): State<super::State>,
    request: Signed<get_room_state::v1::Request>,
) -> FedResult<RumaResponse<get_room_state::v1::Response>> {
    let body = &request.body;
    state.check_reader(&body.room_id, &request.origin)?;
    let (ids, chain) = state.state_at(&body.room_id, &body.event_id)?;
    Ok(RumaResponse(get_room_state::v1::Response::new(
        state.pdus(chain)?,
        state.pdus(ids)?,
    )))
}

/// # `GET /_matrix/federation/v1/state_ids/{roomId}`
pub async fn get_state_ids(
    State(state): State<super::State>,
    request: Signed<get_room_state_ids::v1::Request>,
) -> FedResult<RumaResponse<get_room_state_ids::v1::Response>> {
    let body = &request.body;
    state.check_reader(&body.room_id, &request.origin)?;
    let (ids, chain) = state.state_at(&body.room_id, &body.event_id)?;
    Ok(RumaResponse(get_room_state_ids::v1::Response::new(
        chain, ids,
    )))
}

/// # `GET /_matrix/federation/v1/backfill/{roomId}`
pub async fn backfill(
    State(state): State<super::State>,
    request: Signed<get_backfill::v1::Request>,
) -> FedResult<RumaResponse<get_backfill::v1::Response>> {
    let body = &request.body;
    state.check_reader(&body.room_id, &request.origin)?;
    let limit = usize::try_from(u64::from(body.limit))
        .unwrap_or(100)
        .min(100);
    let events =
        state
            .services
            .rooms
            .backfill_events(&body.room_id, &request.origin, &body.v, limit)?;
    let pdus = events.iter().map(raw).collect::<Result<Vec<_>>>()?;
    Ok(RumaResponse(get_backfill::v1::Response::new(
        state.services.rooms.server_name().clone(),
        MilliSecondsSinceUnixEpoch::now(),
        pdus,
    )))
}

/// # `POST /_matrix/federation/v1/get_missing_events/{roomId}`
pub async fn get_missing_events(
    State(state): State<super::State>,
    request: Signed<get_missing_events::v1::Request>,
) -> FedResult<RumaResponse<get_missing_events::v1::Response>> {
    let body = &request.body;
    state.check_reader(&body.room_id, &request.origin)?;
    let limit = usize::try_from(u64::from(body.limit))
        .unwrap_or(10)
        .min(100);
    let events = state.services.rooms.missing_events(
        &body.room_id,
        &request.origin,
        &body.earliest_events,
        &body.latest_events,
        limit,
        u64::from(body.min_depth),
    )?;
    let pdus = events.iter().map(raw).collect::<Result<Vec<_>>>()?;
    Ok(RumaResponse(get_missing_events::v1::Response::new(pdus)))
}

/// # `GET /_matrix/federation/v1/event_auth/{roomId}/{eventId}`
pub async fn event_auth(
    State(state): State<super::State>,
    request: Signed<get_event_authorization::v1::Request>,
) -> FedResult<RumaResponse<get_event_authorization::v1::Response>> {
    let body = &request.body;
    state.check_reader(&body.room_id, &request.origin)?;
    if state
        .services
        .rooms
        .event_in_room(&body.room_id, &body.event_id)?
        .is_none()
    {
        return Err(Error::NotFound("Unknown event".into()).into());
    }
    let chain = state.services.rooms.auth_chain([body.event_id.clone()])?;
    Ok(RumaResponse(get_event_authorization::v1::Response::new(
        state.pdus(chain)?,
    )))
}

/// # `GET /_matrix/federation/v1/timestamp_to_event/{roomId}`
pub async fn timestamp_to_event(
    State(state): State<super::State>,
    request: Signed<get_event_by_timestamp::v1::Request>,
) -> FedResult<RumaResponse<get_event_by_timestamp::v1::Response>> {
    let body = &request.body;
    state.check_reader(&body.room_id, &request.origin)?;
    let direction = match body.dir {
        ruma::api::Direction::Forward => Direction::Forward,
        ruma::api::Direction::Backward => Direction::Backward,
    };
    let event = state
        .services
        .rooms
        .event_at_timestamp_any(&body.room_id, u64::from(body.ts.get()), direction)?
        .ok_or_else(|| Error::NotFound("No event found in that direction".into()))?;
    Ok(RumaResponse(get_event_by_timestamp::v1::Response::new(
        event.event_id.clone(),
        event.origin_server_ts,
    )))
}
