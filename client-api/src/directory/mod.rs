//! Room aliases, the room directory list and the user directory.
pub mod create_alias;
pub mod delete_alias;
pub mod get_alias;
pub mod get_public_rooms;
pub mod get_room_aliases;
pub mod get_room_visibility;
pub mod search_users;
pub mod set_room_visibility;
pub mod set_room_visibility_appservice;
