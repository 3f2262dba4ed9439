//! Integration tests: whole Myelin servers in-process on 127.0.0.1:0, driven over HTTP.
//! One test binary, so the workspace links once.

mod account_data;
mod accounts;
mod aliases;
mod appservices;
mod bad_input;
mod common;
mod cross_signing;
mod devices;
mod discovery;
mod durability;
mod e2ee;
mod ephemeral;
mod federation;
mod federation_helpers;
mod federation_membership;
mod federation_queries;
mod federation_refusals;
mod federation_rooms;
mod filters;
mod history;
mod key_backup;
mod media;
mod presence;
mod profile;
mod push_rules;
mod pushers;
mod relations;
mod room_extras;
mod rooms;
mod sessions;
mod sync;
mod unread;
