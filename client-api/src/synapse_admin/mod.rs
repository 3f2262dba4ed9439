//! Synapse's admin API (`/_synapse/admin/…`), so that the tools admins use with Synapse (web
//! consoles such as Ketesa, scripts, `register_new_matrix_user`) work against Myelin on a live
//! server. Every endpoint is for server administrators' access tokens (others get `403
//! M_FORBIDDEN`), except shared-secret registration, which proves itself with an HMAC. Shapes
//! follow Synapse's `docs/admin_api/`; what Myelin cannot do in Synapse's shape is not routed,
//! and so answers `404 M_UNRECOGNIZED`.

pub mod deactivate;
pub mod delete_room;
pub mod destinations;
pub mod devices;
pub mod endpoints;
pub mod event_reports;
pub mod get_user;
pub mod join_room;
pub mod joined_rooms;
pub mod list_rooms;
pub mod list_users;
pub mod login_as;
pub mod media;
pub mod purge_history;
pub mod put_user;
pub mod redact_user;
pub mod register;
pub mod registration_tokens;
pub mod reset_password;
pub mod room_admin;
pub mod room_block;
pub mod room_details;
pub mod room_history;
pub mod room_members;
pub mod room_state;
pub mod server_notices;
pub mod server_version;
pub mod statistics;
pub mod tasks;
pub mod user_admin;
pub mod user_data;
pub mod user_queries;
pub mod user_restrictions;
pub mod username_available;
pub mod whois;

use axum::Router;
use myelin_core::{Error, users::AccountRecord};
use ruma::UserId;
use serde_json::{Value as JsonValue, json};
use synapse_admin_api as admin;

use crate::{ApiError, AppState, routing::route};

pub(crate) use crate::admin::require_admin;

/// Adds every endpoint of the family.
pub fn routes(mut router: Router<AppState>) -> Router<AppState> {
    router = route::<admin::version::get_server_version::v1::Request, _, _>(
        router,
        server_version::server_version,
    );
    router = route::<admin::register_users::shared_secret_register_nonce::v1::Request, _, _>(
        router,
        register::nonce,
    );
    router = route::<endpoints::shared_secret_register::Request, _, _>(router, register::register);
    router = route::<admin::users::list_users::v2::Request, _, _>(router, list_users::list_users);
    router = route::<endpoints::list_users_v3::Request, _, _>(router, list_users::list_users_v3);
    router = route::<admin::users::get_details::v2::Request, _, _>(router, get_user::get_user);
    router = route::<admin::users::create_or_modify::v2::Request, _, _>(router, put_user::put_user);
    router = route::<admin::users::deactivate_account::v1::Request, _, _>(
        router,
        deactivate::deactivate,
    );
    router = route::<admin::users::reset_password::v1::Request, _, _>(
        router,
        reset_password::reset_password,
    );
    router = route::<admin::users::is_user_admin::v1::Request, _, _>(router, user_admin::get_admin);
    router = route::<endpoints::set_user_admin::Request, _, _>(router, user_admin::set_admin);
    router = route::<endpoints::whois::Request, _, _>(router, whois::whois);
    router = route::<admin::users::list_joined_rooms::v1::Request, _, _>(
        router,
        joined_rooms::joined_rooms,
    );
    router = route::<admin::rooms::list_rooms::v1::Request, _, _>(router, list_rooms::list_rooms);
    router =
        route::<admin::rooms::room_details::v1::Request, _, _>(router, room_details::room_details);
    router =
        route::<admin::rooms::room_members::v1::Request, _, _>(router, room_members::room_members);
    router = route::<endpoints::room_state::Request, _, _>(router, room_state::room_state);
    router = route::<endpoints::list_devices::Request, _, _>(router, devices::list_devices);
    router = route::<endpoints::get_device::Request, _, _>(router, devices::get_device);
    router = route::<endpoints::update_device::Request, _, _>(router, devices::update_device);
    router = route::<endpoints::delete_device::Request, _, _>(router, devices::delete_device);
    router = route::<endpoints::delete_devices::Request, _, _>(router, devices::delete_devices);
    router = route::<endpoints::login_as::Request, _, _>(router, login_as::login_as);
    router = route::<endpoints::list_pushers::Request, _, _>(router, user_data::list_pushers);
    router = route::<endpoints::account_data::Request, _, _>(router, user_data::account_data);
    router = route::<endpoints::list_registration_tokens::Request, _, _>(
        router,
        registration_tokens::list,
    );
    router = route::<endpoints::create_registration_token::Request, _, _>(
        router,
        registration_tokens::create,
    );
    router =
        route::<endpoints::get_registration_token::Request, _, _>(router, registration_tokens::get);
    router = route::<endpoints::update_registration_token::Request, _, _>(
        router,
        registration_tokens::update,
    );
    router = route::<endpoints::delete_registration_token::Request, _, _>(
        router,
        registration_tokens::delete,
    );
    router = route::<endpoints::list_event_reports::Request, _, _>(router, event_reports::list);
    router = route::<endpoints::get_event_report::Request, _, _>(router, event_reports::get);
    router = route::<endpoints::delete_event_report::Request, _, _>(router, event_reports::delete);
    router =
        route::<admin::room_membership::join_room::v1::Request, _, _>(router, join_room::join_room);
    router = route::<endpoints::get_room_block::Request, _, _>(router, room_block::get_block);
    router = route::<endpoints::set_room_block::Request, _, _>(router, room_block::set_block);
    router = route::<endpoints::list_destinations::Request, _, _>(router, destinations::list);
    router = route::<endpoints::get_destination::Request, _, _>(router, destinations::get);
    router = route::<endpoints::destination_rooms::Request, _, _>(router, destinations::rooms);
    router = route::<endpoints::reset_destination::Request, _, _>(
        router,
        destinations::reset_connection,
    );
    router = route::<endpoints::media_info::Request, _, _>(router, media::media_info);
    router = route::<endpoints::delete_media::Request, _, _>(router, media::delete_media);
    router =
        route::<endpoints::delete_media_before::Request, _, _>(router, media::delete_media_before);
    router = route::<endpoints::purge_media_cache::Request, _, _>(router, media::purge_media_cache);
    router = route::<endpoints::user_media::Request, _, _>(router, media::user_media);
    router = route::<endpoints::delete_user_media::Request, _, _>(router, media::delete_user_media);
    router = route::<endpoints::quarantine_media::Request, _, _>(router, media::quarantine);
    router = route::<endpoints::unquarantine_media::Request, _, _>(router, media::unquarantine);
    router = route::<endpoints::protect_media::Request, _, _>(router, media::protect);
    router = route::<endpoints::unprotect_media::Request, _, _>(router, media::unprotect);
    router = route::<endpoints::send_server_notice::Request, _, _>(router, server_notices::send);
    router = route::<endpoints::send_server_notice_txn::Request, _, _>(
        router,
        server_notices::send_with_txn,
    );
    router = route::<endpoints::delete_room::Request, _, _>(router, delete_room::delete_room);
    router = route::<endpoints::room_delete_status::Request, _, _>(
        router,
        delete_room::room_delete_status,
    );
    router = route::<endpoints::delete_status::Request, _, _>(router, delete_room::delete_status);
    router = route::<endpoints::forward_extremities::Request, _, _>(
        router,
        room_admin::forward_extremities,
    );
    router =
        route::<endpoints::make_room_admin::Request, _, _>(router, room_admin::make_room_admin);
    router = route::<endpoints::media_statistics::Request, _, _>(router, statistics::users_media);
    router = route::<endpoints::quarantine_user_media::Request, _, _>(
        router,
        media::quarantine_user_media,
    );
    router = route::<endpoints::delete_room_v1::Request, _, _>(router, delete_room::delete_room_v1);
    router = route::<endpoints::purge_history::Request, _, _>(router, purge_history::purge_history);
    router = route::<endpoints::purge_history_to_event::Request, _, _>(
        router,
        purge_history::purge_history_to_event,
    );
    router = route::<endpoints::purge_history_status::Request, _, _>(
        router,
        purge_history::purge_history_status,
    );
    router = route::<endpoints::redact_user::Request, _, _>(router, redact_user::redact_user);
    router = route::<endpoints::redact_status::Request, _, _>(router, redact_user::redact_status);
    router = route::<endpoints::room_messages::Request, _, _>(router, room_history::room_messages);
    router = route::<endpoints::room_context::Request, _, _>(router, room_history::room_context);
    router = route::<endpoints::room_media::Request, _, _>(router, media::room_media);
    router = route::<endpoints::quarantine_room_media::Request, _, _>(
        router,
        media::quarantine_room_media,
    );
    router = route::<endpoints::quarantine_room_media_legacy::Request, _, _>(
        router,
        media::quarantine_room_media_legacy,
    );
    router = route::<endpoints::database_room_statistics::Request, _, _>(
        router,
        statistics::database_rooms,
    );
    router = route::<endpoints::user_memberships::Request, _, _>(router, user_queries::memberships);
    router = route::<endpoints::sent_invite_count::Request, _, _>(
        router,
        user_queries::sent_invite_count,
    );
    router = route::<endpoints::cumulative_joined_room_count::Request, _, _>(
        router,
        user_queries::cumulative_joined_room_count,
    );
    router = route::<endpoints::user_by_external_id::Request, _, _>(
        router,
        user_queries::user_by_external_id,
    );
    router =
        route::<endpoints::user_by_threepid::Request, _, _>(router, user_queries::user_by_threepid);
    router = route::<endpoints::create_device::Request, _, _>(router, devices::create_device);
    router = route::<endpoints::delete_forward_extremities::Request, _, _>(
        router,
        room_admin::delete_forward_extremities,
    );
    router = route::<endpoints::room_timestamp_to_event::Request, _, _>(
        router,
        room_history::timestamp_to_event,
    );
    router = route::<endpoints::fetch_event::Request, _, _>(router, room_history::fetch_event);
    router =
        route::<endpoints::list_room_reports::Request, _, _>(router, event_reports::list_rooms);
    router = route::<endpoints::scheduled_tasks::Request, _, _>(router, tasks::list);
    router = route::<endpoints::allow_cross_signing_replacement::Request, _, _>(
        router,
        user_restrictions::allow_cross_signing_replacement,
    );
    router = route::<endpoints::delete_server_media_before::Request, _, _>(
        router,
        media::delete_server_media_before,
    );
    router = route::<endpoints::room_hierarchy::Request, _, _>(router, room_history::hierarchy);
    router =
        route::<endpoints::list_user_reports::Request, _, _>(router, event_reports::list_users);
    router = route::<endpoints::get_room_report::Request, _, _>(router, event_reports::get_room);
    router =
        route::<endpoints::delete_room_report::Request, _, _>(router, event_reports::delete_room);
    router = route::<endpoints::get_user_report::Request, _, _>(router, event_reports::get_user);
    router =
        route::<endpoints::delete_user_report::Request, _, _>(router, event_reports::delete_user);
    router = route::<endpoints::shadow_ban::Request, _, _>(router, user_restrictions::shadow_ban);
    router =
        route::<endpoints::unshadow_ban::Request, _, _>(router, user_restrictions::unshadow_ban);
    router =
        route::<endpoints::get_ratelimit::Request, _, _>(router, user_restrictions::get_ratelimit);
    router =
        route::<endpoints::set_ratelimit::Request, _, _>(router, user_restrictions::set_ratelimit);
    router = route::<endpoints::delete_ratelimit::Request, _, _>(
        router,
        user_restrictions::delete_ratelimit,
    );
    router = route::<endpoints::suspend_user::Request, _, _>(router, user_restrictions::suspend);
    route::<endpoints::username_available::Request, _, _>(
        router,
        username_available::username_available,
    )
}

/// A local account of this server, or `404 M_NOT_FOUND` as Synapse answers.
pub(crate) fn local_account(state: &AppState, user_id: &UserId) -> Result<AccountRecord, ApiError> {
    if !state.services.users.is_local(user_id) {
        return Err(Error::InvalidParam("Can only look up local users".into()).into());
    }
    state
        .services
        .users
        .account(user_id)?
        .ok_or_else(|| Error::NotFound("User not found".into()).into())
}

/// A user as Synapse's `GET /_synapse/admin/v2/users/{userId}` shows them (the fields web
/// consoles read; `creation_ts` in milliseconds as Synapse sends it since 1.120).
pub(crate) fn user_details(
    state: &AppState,
    user_id: &UserId,
    record: &AccountRecord,
) -> Result<JsonValue, ApiError> {
    let users = &state.services.users;
    let profile = users.profile(user_id).unwrap_or_default();
    let restrictions = users.restrictions(user_id);
    let last_seen_ts = users
        .devices(user_id)?
        .into_iter()
        .filter_map(|device| device.last_seen_ts)
        .max();
    Ok(json!({
        "name": user_id,
        "displayname": profile.get("displayname").cloned().unwrap_or(JsonValue::Null),
        "avatar_url": profile.get("avatar_url").cloned().unwrap_or(JsonValue::Null),
        "threepids": [],
        "external_ids": [],
        "is_guest": false,
        "admin": record.admin,
        "deactivated": record.deactivated,
        "erased": state.services.rooms.is_erased(user_id),
        "shadow_banned": restrictions.shadow_banned,
        "locked": restrictions.locked,
        "suspended": restrictions.suspended,
        "approved": true,
        "creation_ts": record.created_ts,
        "appservice_id": record.appservice_id,
        "user_type": record.user_type,
        "consent_version": JsonValue::Null,
        "consent_ts": JsonValue::Null,
        "consent_server_notice_sent": JsonValue::Null,
        "last_seen_ts": last_seen_ts,
    }))
}

/// An event as Synapse's admin API serializes it: the client format with the legacy `age` and
/// `user_id` keys (and `unsigned.age`) that Synapse still adds there.
pub(crate) fn admin_event(event: &myelin_core::rooms::PduEvent) -> JsonValue {
    let mut json = event.to_client_event(true);
    let age = myelin_core::clock::now_ms().saturating_sub(u64::from(event.origin_server_ts.0));
    if let Some(object) = json.as_object_mut() {
        object.insert("age".into(), age.into());
        object.insert("user_id".into(), event.sender.to_string().into());
        let unsigned = object.entry("unsigned").or_insert_with(|| json!({}));
        if let Some(unsigned) = unsigned.as_object_mut() {
            unsigned.insert("age".into(), age.into());
        }
    }
    json
}
