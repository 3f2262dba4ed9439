//! The servers this one sends to: `GET /_synapse/admin/v1/federation/destinations`, one of
//! them, the rooms shared with it, and `POST …/reset_connection` to end its backoff. Myelin
//! knows the destinations it sent to since it started and those with items queued (Synapse
//! keeps every destination it ever contacted in its database).

use axum::{Json, extract::State, http::Uri};
use myelin_core::{Error, ports::DestinationStatus};
use serde_json::{Value as JsonValue, json};

use super::{endpoints, require_admin};
use crate::{ApiError, AppState, Ruma, extract::query_parameter};

fn destination_json(status: &DestinationStatus) -> JsonValue {
    json!({
        "destination": status.destination,
        "retry_last_ts": status.retry_last_ts,
        "retry_interval": status.retry_interval,
        "failure_ts": status.failure_ts,
        "last_successful_stream_ordering": status.last_successful_stream_ordering,
    })
}

/// The destinations known; none when federation is off (nothing is ever sent).
fn known(state: &AppState) -> Vec<DestinationStatus> {
    state
        .services
        .federation
        .get()
        .map(|federation| federation.destinations())
        .unwrap_or_default()
}

fn find(state: &AppState, destination: &ruma::ServerName) -> Result<DestinationStatus, ApiError> {
    known(state)
        .into_iter()
        .find(|status| status.destination == destination)
        .ok_or_else(|| Error::NotFound("Unknown destination".into()).into())
}

/// # `GET /_synapse/admin/v1/federation/destinations`
pub async fn list(
    State(state): State<AppState>,
    uri: Uri,
    request: Ruma<endpoints::list_destinations::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let from: usize = query_parameter(&uri, "from")
        .and_then(|from| from.parse().ok())
        .unwrap_or(0);
    let limit: usize = query_parameter(&uri, "limit")
        .and_then(|limit| limit.parse().ok())
        .unwrap_or(100);
    let search = query_parameter(&uri, "destination");
    let order_by = query_parameter(&uri, "order_by").unwrap_or_else(|| "destination".into());
    let mut listed: Vec<JsonValue> = known(&state)
        .iter()
        .filter(|status| {
            search
                .as_deref()
                .is_none_or(|term| status.destination.as_str().contains(term))
        })
        .map(destination_json)
        .collect();
    listed.sort_by(|left, right| {
        let (a, b) = (&left[order_by.as_str()], &right[order_by.as_str()]);
        let ordering = match (a.as_u64(), b.as_u64()) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => a.to_string().cmp(&b.to_string()),
        };
        ordering.then_with(|| {
            left["destination"]
                .to_string()
                .cmp(&right["destination"].to_string())
        })
    });
    if query_parameter(&uri, "dir").as_deref() == Some("b") {
        listed.reverse();
    }
    let total = listed.len();
    let page: Vec<JsonValue> = listed.into_iter().skip(from).take(limit).collect();
    let mut answer = json!({ "destinations": page, "total": total });
    if from + limit < total {
        answer["next_token"] = (from + limit).to_string().into();
    }
    Ok(Json(answer))
}

/// # `GET /_synapse/admin/v1/federation/destinations/{destination}`
pub async fn get(
    State(state): State<AppState>,
    request: Ruma<endpoints::get_destination::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    Ok(Json(destination_json(&find(
        &state,
        &request.body.destination,
    )?)))
}

/// # `GET /_synapse/admin/v1/federation/destinations/{destination}/rooms`
///
/// The rooms where the destination has joined members; `stream_ordering` is the position of
/// the last item the destination took (Myelin keeps it per destination, not per room).
pub async fn rooms(
    State(state): State<AppState>,
    request: Ruma<endpoints::destination_rooms::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    let destination = &request.body.destination;
    let status = find(&state, destination)?;
    let rooms = &state.services.rooms;
    let mut shared = Vec::new();
    for room_id in rooms.room_ids()? {
        if rooms.joined_servers(&room_id)?.contains(destination) {
            shared.push(json!({
                "room_id": room_id,
                "stream_ordering": status.last_successful_stream_ordering,
            }));
        }
    }
    Ok(Json(json!({ "total": shared.len(), "rooms": shared })))
}

/// # `POST /_synapse/admin/v1/federation/destinations/{destination}/reset_connection`
pub async fn reset_connection(
    State(state): State<AppState>,
    request: Ruma<endpoints::reset_destination::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    if !state
        .services
        .federation
        .get()?
        .reset_connection(&request.body.destination)
    {
        return Err(Error::NotFound("Unknown destination".into()).into());
    }
    Ok(Json(json!({})))
}
