//! `GET /_matrix/client/v1/rooms/{roomId}/hierarchy`

use std::collections::HashSet;

use axum::{Json, extract::State};
use myelin_core::{
    Error,
    rooms::{SpaceChild, Viewer},
};
use ruma::{OwnedRoomId, OwnedServerName, RoomId, api::client::space::get_hierarchy::v1};
use serde_json::{Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma};

const DEFAULT_LIMIT: usize = 50;
/// Rooms walked per request at most, whatever the depth: spaces can be large and cyclic.
const MAX_ROOMS: usize = 1000;

/// The `m.space.child` links of a summary's `children_state` (for rooms summarised elsewhere).
fn children_of(summary: &JsonValue) -> Vec<SpaceChild> {
    summary["children_state"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|event| {
            let room_id = RoomId::parse(event["state_key"].as_str()?).ok()?;
            let via: Vec<OwnedServerName> = event["content"]["via"]
                .as_array()?
                .iter()
                .filter_map(|server| OwnedServerName::try_from(server.as_str()?).ok())
                .collect();
            let suggested = event["content"]["suggested"].as_bool().unwrap_or(false);
            (!via.is_empty()).then_some(SpaceChild {
                room_id,
                via,
                suggested,
            })
        })
        .collect()
}

/// # `GET /_matrix/client/v1/rooms/{roomId}/hierarchy`
///
/// Walks the space depth first, children in the spec's order (as Synapse does: Complement
/// expects Root, R1, SS1, SS2, R3, R4, R2 for its test space); rooms this server is not in are summarised by a server named
/// in the `via` of their `m.space.child` event. Pagination tokens are offsets: `h{offset}`.
pub async fn get_hierarchy(
    State(state): State<AppState>,
    request: Ruma<v1::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let identity = request.identity()?;
    let body = &request.body;
    let rooms = &state.services.rooms;
    let viewer = Viewer::User(&identity.user_id);
    if rooms.room_info(&body.room_id)?.is_some() && !rooms.summary_visible(&body.room_id, viewer)? {
        return Err(Error::Forbidden("You cannot see this space".into()).into());
    }
    let walk = Walk {
        limit: body.limit.map(u64::from),
        max_depth: body.max_depth.map(u64::from),
        from: body.from.as_deref(),
        suggested_only: body.suggested_only,
    };
    Ok(Json(hierarchy(&state, &body.room_id, viewer, walk).await?))
}

/// The paging and depth of one walk.
pub(crate) struct Walk<'a> {
    pub limit: Option<u64>,
    pub max_depth: Option<u64>,
    pub from: Option<&'a str>,
    pub suggested_only: bool,
}

/// The walk of `GET /hierarchy` for `viewer` (also the administrator's, who sees every room).
pub(crate) async fn hierarchy(
    state: &AppState,
    root: &ruma::RoomId,
    viewer: Viewer<'_>,
    walk: Walk<'_>,
) -> Result<JsonValue, ApiError> {
    let rooms = &state.services.rooms;
    let limit = walk
        .limit
        .map_or(DEFAULT_LIMIT, |limit| {
            usize::try_from(limit).unwrap_or(DEFAULT_LIMIT)
        })
        .clamp(1, MAX_ROOMS);
    let max_depth = walk.max_depth.map_or(usize::MAX, |depth| {
        usize::try_from(depth).unwrap_or(usize::MAX)
    });
    let offset = match walk.from {
        Some(token) => token
            .strip_prefix('h')
            .and_then(|number| number.parse::<usize>().ok())
            .ok_or_else(|| Error::InvalidParam("Invalid from token".into()))?,
        None => 0,
    };

    let mut chunks: Vec<JsonValue> = Vec::new();
    let mut seen: HashSet<OwnedRoomId> = HashSet::new();
    // A stack: the first child is walked (with its descendants) before the second.
    let mut stack: Vec<(OwnedRoomId, usize, Vec<OwnedServerName>)> =
        vec![(root.to_owned(), 0, Vec::new())];
    while let Some((room_id, depth, via)) = stack.pop() {
        if chunks.len() > offset + limit || seen.len() >= MAX_ROOMS || !seen.insert(room_id.clone())
        {
            continue;
        }
        let (summary, children) = match rooms.hierarchy_summary(&room_id, viewer)? {
            Some(summary) => (
                summary,
                rooms.space_children(&room_id, walk.suggested_only)?,
            ),
            None if rooms.room_info(&room_id)?.is_some() => continue,
            None => {
                let Ok(federation) = state.services.federation.get() else {
                    continue;
                };
                let mut servers = via.clone();
                if let Some(server) = room_id.server_name() {
                    servers.push(server.to_owned());
                }
                match federation
                    .hierarchy(&servers, &room_id, walk.suggested_only)
                    .await
                {
                    Ok(answer) => {
                        let summary = answer["room"].clone();
                        let children = children_of(&summary);
                        (summary, children)
                    }
                    Err(error) => {
                        if room_id == root {
                            return Err(error.into());
                        }
                        continue;
                    }
                }
            }
        };
        chunks.push(summary);
        if depth < max_depth {
            for child in children.into_iter().rev() {
                stack.push((child.room_id, depth + 1, child.via));
            }
        }
    }
    if chunks.is_empty() {
        return Err(Error::NotFound("Unknown room".into()).into());
    }
    let more = chunks.len() > offset + limit;
    let page: Vec<JsonValue> = chunks.into_iter().skip(offset).take(limit).collect();
    let mut response = json!({ "rooms": page });
    if more {
        response["next_batch"] = format!("h{}", offset + limit).into();
    }
    Ok(response)
}
