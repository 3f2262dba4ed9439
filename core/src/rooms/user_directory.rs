//! The user directory: whom a user can find by name. As Synapse's default
//! (`search_all_users: false`): the members of the rooms they are in and of the rooms published
//! in the room directory, matched by display name or user id.

use std::collections::BTreeMap;

use ruma::{OwnedRoomId, OwnedUserId, UserId};

use super::{Rooms, aliases::PUBLISHED_ROOMID};
use crate::error::Result;

/// One user found.
#[derive(Debug, Clone, PartialEq)]
pub struct DirectoryUser {
    pub user_id: OwnedUserId,
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
    /// Whether the searcher shares a room with them (those come first).
    pub shares_room: bool,
}

/// Lower-case words of a name or id: `@Alice.Smith:example.org` gives `alice`, `smith`,
/// `example`, `org`.
pub(super) fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Whether every word of the search starts a word of the user's name or id.
fn matches(terms: &[String], user: &DirectoryUser) -> bool {
    let mut haystack = words(user.user_id.as_str());
    if let Some(name) = &user.display_name {
        haystack.extend(words(name));
    }
    terms
        .iter()
        .all(|term| haystack.iter().any(|word| word.starts_with(term.as_str())))
}

impl Rooms {
    /// Users `searcher` can find with `term`, best first, at most `limit`; the flag says whether
    /// more matched. Users `hidden` says are kept out (support accounts, as Synapse keeps them).
    pub fn search_users(
        &self,
        searcher: &UserId,
        term: &str,
        limit: usize,
        hidden: &dyn Fn(&UserId) -> bool,
    ) -> Result<(Vec<DirectoryUser>, bool)> {
        let terms = words(term);
        if terms.is_empty() {
            return Ok((Vec::new(), false));
        }
        let shared: Vec<OwnedRoomId> = self.joined_rooms(searcher)?;
        let mut public = Vec::new();
        for (key, _) in self
            .store()
            .scan_prefix(PUBLISHED_ROOMID, b"", usize::MAX)?
        {
            if let Some(room_id) = String::from_utf8(key)
                .ok()
                .and_then(|id| ruma::RoomId::parse(id).ok())
                && !shared.contains(&room_id)
            {
                public.push(room_id);
            }
        }
        let mut found: BTreeMap<OwnedUserId, DirectoryUser> = BTreeMap::new();
        for (rooms, shares_room) in [(&shared, true), (&public, false)] {
            for room_id in rooms {
                for member in self.joined_members(room_id)? {
                    let Some(user_id) = member
                        .state_key
                        .as_deref()
                        .and_then(|key| UserId::parse(key).ok())
                    else {
                        continue;
                    };
                    if user_id == searcher || found.contains_key(&user_id) || hidden(&user_id) {
                        continue;
                    }
                    let content = member.content_json();
                    let user = DirectoryUser {
                        user_id: user_id.clone(),
                        display_name: content["displayname"].as_str().map(str::to_owned),
                        avatar_url: content["avatar_url"].as_str().map(str::to_owned),
                        shares_room,
                    };
                    if matches(&terms, &user) {
                        found.insert(user_id, user);
                    }
                }
            }
        }
        let mut users: Vec<DirectoryUser> = found.into_values().collect();
        // Synapse's order, roughly: people one shares a room with, then those with a display
        // name, then by id.
        users.sort_by(|a, b| {
            b.shares_room
                .cmp(&a.shares_room)
                .then_with(|| b.display_name.is_some().cmp(&a.display_name.is_some()))
                .then_with(|| a.user_id.cmp(&b.user_id))
        });
        let limited = users.len() > limit;
        users.truncate(limit);
        Ok((users, limited))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, name: Option<&str>) -> DirectoryUser {
        DirectoryUser {
            user_id: UserId::parse(id).expect("valid test id"),
            display_name: name.map(str::to_owned),
            avatar_url: None,
            shares_room: true,
        }
    }

    #[test]
    fn every_term_must_start_a_word_of_the_name_or_id() {
        let alice = user("@alice.smith:example.org", Some("Alice Wonder"));
        assert!(matches(&words("ali"), &alice));
        assert!(matches(&words("SMI"), &alice));
        assert!(matches(&words("wonder ali"), &alice));
        assert!(matches(&words("example"), &alice));
        assert!(!matches(&words("lice"), &alice));
        assert!(!matches(&words("alice bob"), &alice));
        assert!(matches(&words("bo"), &user("@x:example.org", Some("Bob"))));
    }
}
