//! Full-text search of room events (`POST /search`): the rooms' timelines walked newest first,
//! merged across rooms, every search word matched as a word prefix (as Synapse's SQLite search
//! does). There is no index: each request reads at most [`MAX_SCAN`] events and, when it stops
//! there, says where the next request continues.

use std::collections::BinaryHeap;

use ruma::{OwnedRoomId, UserId};

use super::{PduEvent, Rooms, timeline::Direction, user_directory::words};
use crate::error::Result;

/// Events looked at per request at most.
pub const MAX_SCAN: usize = 20_000;
/// Events read from one room's timeline at a time.
const BATCH: usize = 64;

/// Which content fields a search looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchKey {
    Body,
    Name,
    Topic,
}

impl SearchKey {
    fn text<'a>(self, event: &PduEvent, content: &'a serde_json::Value) -> Option<&'a str> {
        let (kind, field) = match self {
            Self::Body => ("m.room.message", "body"),
            Self::Name => ("m.room.name", "name"),
            Self::Topic => ("m.room.topic", "topic"),
        };
        (event.kind.to_string() == kind)
            .then(|| content[field].as_str())
            .flatten()
    }
}

pub struct SearchRequest<'a> {
    pub user_id: &'a UserId,
    pub term: &'a str,
    pub keys: &'a [SearchKey],
    pub rooms: Vec<OwnedRoomId>,
    /// Only events before this position (a previous page's `next`).
    pub before: Option<u64>,
    pub limit: usize,
    /// The client's room event filter.
    pub keep: &'a (dyn Fn(&PduEvent) -> bool + Sync),
}

pub struct SearchPage {
    /// Matching events, newest first, with their positions.
    pub results: Vec<(u64, PduEvent)>,
    /// Where the next page starts, when there may be more.
    pub next: Option<u64>,
    /// Matches in all, this page's and those after it, as far as the scan reached (the spec's
    /// approximate `count`; Synapse counts every match, Complement TestSearch checks it).
    pub count: usize,
}

/// One room's timeline, read backwards a batch at a time.
struct Cursor {
    room_id: OwnedRoomId,
    /// Read events not yet looked at, oldest first (so `pop` gives the newest).
    buffered: Vec<(u64, PduEvent)>,
    /// Everything at or above this position has been read.
    below: u64,
    exhausted: bool,
}

impl Rooms {
    /// One page of search results.
    pub fn search_events(&self, request: &SearchRequest<'_>) -> Result<SearchPage> {
        let terms = words(request.term);
        if terms.is_empty() || request.limit == 0 {
            return Ok(SearchPage {
                results: Vec::new(),
                next: None,
                count: 0,
            });
        }
        let mut cursors = Vec::new();
        for room_id in &request.rooms {
            let readable = self.readable_until(room_id, request.user_id)?;
            let up_to = request
                .before
                .map_or(readable, |before| readable.min(before.saturating_sub(1)));
            cursors.push(Cursor {
                room_id: room_id.clone(),
                buffered: Vec::new(),
                below: up_to + 1,
                exhausted: up_to == 0,
            });
        }
        // The newest unread event of every room, to merge the rooms newest first.
        let mut heads = BinaryHeap::new();
        for (index, cursor) in cursors.iter_mut().enumerate() {
            if let Some(position) = self.peek(cursor)? {
                heads.push((position, index));
            }
        }
        let mut results = Vec::new();
        // Once the page is full, the scan goes on only to count the matches after it.
        let mut page_end: Option<u64> = None;
        let mut matches_after = 0;
        let mut scanned = 0;
        while let Some((_, index)) = heads.pop() {
            let cursor = &mut cursors[index];
            let Some((position, event)) = cursor.buffered.pop() else {
                continue;
            };
            scanned += 1;
            let membership = self.membership(&cursor.room_id, request.user_id)?;
            if (request.keep)(&event)
                && self.event_visible(&cursor.room_id, request.user_id, position, membership)?
                && matches(&terms, request.keys, &event)
                // What an erased sender wrote is not there to find for those who see it
                // redacted.
                && self
                    .seen_by(&cursor.room_id, request.user_id, position, &event)?
                    .is_none()
            {
                if page_end.is_some() {
                    matches_after += 1;
                } else {
                    results.push((position, event));
                    if results.len() == request.limit {
                        page_end = Some(position);
                    }
                }
            }
            if let Some(next) = self.peek(cursor)? {
                heads.push((next, index));
            }
            if scanned >= MAX_SCAN && !heads.is_empty() {
                let count = results.len() + matches_after;
                return Ok(SearchPage {
                    results,
                    next: Some(page_end.unwrap_or(position)),
                    count,
                });
            }
        }
        let count = results.len() + matches_after;
        Ok(SearchPage {
            results,
            next: page_end.filter(|_| matches_after > 0),
            count,
        })
    }

    /// The position of the cursor's next event, reading a batch when its buffer is empty.
    fn peek(&self, cursor: &mut Cursor) -> Result<Option<u64>> {
        if cursor.buffered.is_empty() && !cursor.exhausted {
            let page = self.timeline(
                &cursor.room_id,
                0,
                cursor.below.saturating_sub(1),
                Direction::Backward,
                BATCH,
            )?;
            cursor.exhausted = !page.more;
            if let Some((oldest, _)) = page.events.last() {
                cursor.below = *oldest;
            }
            cursor.buffered = page.events;
            cursor.buffered.reverse();
        }
        Ok(cursor.buffered.last().map(|(position, _)| *position))
    }
}

fn matches(terms: &[String], keys: &[SearchKey], event: &PduEvent) -> bool {
    let content = event.content_json();
    keys.iter()
        .filter_map(|key| key.text(event, &content))
        .any(|text| {
            let haystack = words(text);
            terms
                .iter()
                .all(|term| haystack.iter().any(|word| word.starts_with(term.as_str())))
        })
}
