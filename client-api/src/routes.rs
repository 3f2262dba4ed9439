//! Every client-server endpoint, registered from ruma's request metadata.

use axum::Router;
use ruma::api::client as c;

use crate::{
    AppState, account, account_data, admin, appservice, backup, delayed, device, directory,
    discovery, ephemeral, filter, keys, media, membership, message, presence, profile, push,
    pushers, relations, room,
    routing::{route, route_with_optional_last_segment},
    search, session, state, sync, thirdparty, to_device, voip,
};

/// The endpoints, without the listener-wide layers (CORS, tracing, metrics) that `router` adds.
pub(crate) fn endpoints() -> Router<AppState> {
    let mut router = Router::new();
    router = route::<c::discovery::get_supported_versions::Request, _, _>(
        router,
        discovery::versions::get_supported_versions,
    );
    router = route::<c::discovery::get_capabilities::v3::Request, _, _>(
        router,
        discovery::capabilities::get_capabilities,
    );
    router = route::<c::discovery::discover_homeserver::Request, _, _>(
        router,
        discovery::well_known_client::discover_homeserver,
    );
    router = route::<ruma::api::federation::discovery::discover_homeserver::Request, _, _>(
        router,
        discovery::well_known_server::discover_federation_server,
    );

    router = route::<c::account::register::v3::Request, _, _>(router, account::register::register);
    router = route::<c::account::get_username_availability::v3::Request, _, _>(
        router,
        account::get_username_availability::get_username_availability,
    );
    router = route::<c::account::check_registration_token_validity::v1::Request, _, _>(
        router,
        account::check_registration_token_validity::check_registration_token_validity,
    );
    router = route::<c::account::whoami::v3::Request, _, _>(router, account::whoami::whoami);
    router = route::<c::account::change_password::v3::Request, _, _>(
        router,
        account::change_password::change_password,
    );
    router =
        route::<c::account::deactivate::v3::Request, _, _>(router, account::deactivate::deactivate);

    router = route::<c::session::get_login_types::v3::Request, _, _>(
        router,
        session::get_login_types::get_login_types,
    );
    router = route::<c::session::login::v3::Request, _, _>(router, session::login::login);
    router = route::<c::session::logout::v3::Request, _, _>(router, session::logout::logout);
    router =
        route::<c::session::logout_all::v3::Request, _, _>(router, session::logout_all::logout_all);
    router = route::<c::session::refresh_token::v3::Request, _, _>(
        router,
        session::refresh_token::refresh_token,
    );
    router = route::<c::session::get_login_token::v1::Request, _, _>(
        router,
        session::get_login_token::get_login_token,
    );

    router = route::<c::device::get_devices::v3::Request, _, _>(
        router,
        device::get_devices::get_devices,
    );
    router =
        route::<c::device::get_device::v3::Request, _, _>(router, device::get_device::get_device);
    router = route::<c::device::update_device::v3::Request, _, _>(
        router,
        device::update_device::update_device,
    );
    router = route::<c::device::delete_device::v3::Request, _, _>(
        router,
        device::delete_device::delete_device,
    );
    router = route::<c::device::delete_devices::v3::Request, _, _>(
        router,
        device::delete_devices::delete_devices,
    );

    router = route::<c::profile::get_profile::v3::Request, _, _>(
        router,
        profile::get_profile::get_profile,
    );
    router = route::<c::profile::get_profile_field::v3::Request, _, _>(
        router,
        profile::get_profile_field::get_profile_field,
    );
    router = route::<c::profile::set_profile_field::v3::Request, _, _>(
        router,
        profile::set_profile_field::set_profile_field,
    );
    router = route::<c::profile::delete_profile_field::v3::Request, _, _>(
        router,
        profile::delete_profile_field::delete_profile_field,
    );

    router = route::<c::config::get_global_account_data::v3::Request, _, _>(
        router,
        account_data::get_global_account_data::get_global_account_data,
    );
    router = route::<c::config::set_global_account_data::v3::Request, _, _>(
        router,
        account_data::set_global_account_data::set_global_account_data,
    );
    router = router
        .route(
            "/_matrix/client/unstable/io.element.msc4306/rooms/{room_id}/thread/{thread_root}/subscription",
            axum::routing::put(relations::thread_subscriptions::subscribe)
                .get(relations::thread_subscriptions::get)
                .delete(relations::thread_subscriptions::unsubscribe),
        )
        .route(
            "/_matrix/client/unstable/io.element.msc4308/thread_subscriptions",
            axum::routing::get(relations::thread_subscriptions::changes),
        );
    const DELAYED: &str = "/_matrix/client/unstable/org.matrix.msc4140";
    router = router
        .route(
            &format!("{DELAYED}/rooms/{{room_id}}/delayed_event/{{event_type}}/{{txn_id}}"),
            axum::routing::put(delayed::send_delayed_event),
        )
        .route(
            &format!("{DELAYED}/delayed_events"),
            axum::routing::get(delayed::list),
        )
        .route(
            &format!("{DELAYED}/delayed_events/{{delay_id}}"),
            axum::routing::get(delayed::get).post(delayed::update_with_body),
        )
        .route(
            &format!("{DELAYED}/delayed_events/{{delay_id}}/{{action}}"),
            axum::routing::post(delayed::update_with_path),
        );
    router = router
        .route(
            "/_matrix/client/unstable/org.matrix.msc3391/user/{user_id}/account_data/{event_type}",
            axum::routing::delete(account_data::delete::delete_global_account_data),
        )
        .route(
            "/_matrix/client/unstable/org.matrix.msc3391/user/{user_id}/rooms/{room_id}/account_data/{event_type}",
            axum::routing::delete(account_data::delete::delete_room_account_data),
        );
    router = route::<c::config::get_room_account_data::v3::Request, _, _>(
        router,
        account_data::get_room_account_data::get_room_account_data,
    );
    router = route::<c::tag::get_tags::v3::Request, _, _>(router, account_data::tags::get_tags);
    router = route::<c::search::search_events::v3::Request, _, _>(router, search::search_events);
    router = route::<c::voip::get_turn_server_info::v3::Request, _, _>(router, voip::turn_server);
    router = route::<c::admin::get_user_info::v3::Request, _, _>(router, admin::whois);
    router = route::<c::admin::is_user_locked::v1::Request, _, _>(router, admin::is_locked);
    router = route::<c::admin::lock_user::v1::Request, _, _>(router, admin::set_locked);
    router = route::<c::admin::is_user_suspended::v1::Request, _, _>(router, admin::is_suspended);
    router = route::<c::admin::suspend_user::v1::Request, _, _>(router, admin::set_suspended);
    router = crate::synapse_admin::routes(router);
    router =
        route::<c::account::get_3pids::v3::Request, _, _>(router, account::threepids::get_3pids);
    {
        use account::threepids as t;
        use c::account as a;
        router = route::<a::request_registration_token_via_email::v3::Request, _, _>(
            router,
            t::registration_email_token,
        );
        router = route::<a::request_registration_token_via_msisdn::v3::Request, _, _>(
            router,
            t::registration_msisdn_token,
        );
        router = route::<a::request_password_change_token_via_email::v3::Request, _, _>(
            router,
            t::password_email_token,
        );
        router = route::<a::request_password_change_token_via_msisdn::v3::Request, _, _>(
            router,
            t::password_msisdn_token,
        );
        router = route::<a::request_3pid_management_token_via_email::v3::Request, _, _>(
            router,
            t::add_email_token,
        );
        router = route::<a::request_3pid_management_token_via_msisdn::v3::Request, _, _>(
            router,
            t::add_msisdn_token,
        );
        router = route::<a::add_3pid::v3::Request, _, _>(router, t::add_3pid);
        router = route::<a::bind_3pid::v3::Request, _, _>(router, t::bind_3pid);
        router = route::<a::delete_3pid::v3::Request, _, _>(router, t::delete_3pid);
        router = route::<a::unbind_3pid::v3::Request, _, _>(router, t::unbind_3pid);
    }
    router = route::<c::membership::get_mutual_rooms::v1::Request, _, _>(
        router,
        membership::mutual_rooms::mutual_rooms,
    );
    router =
        route::<c::room::upgrade_room::v3::Request, _, _>(router, room::upgrade_room::upgrade_room);
    router =
        route::<c::room::get_summary::v1::Request, _, _>(router, room::get_summary::get_summary);
    router = route::<c::peeking::get_current_state::v3::Request, _, _>(
        router,
        room::initial_sync::room_initial_sync,
    );
    router =
        route::<c::room::report_content::v3::Request, _, _>(router, room::report::report_event);
    router = route::<c::room::report_room::v3::Request, _, _>(router, room::report::report_room);
    router =
        route::<c::reporting::report_user::v3::Request, _, _>(router, room::report::report_user);
    router = route::<c::account::request_openid_token::v3::Request, _, _>(
        router,
        account::request_openid_token::request_openid_token,
    );
    router = route::<c::user_directory::search_users::v3::Request, _, _>(
        router,
        directory::search_users::search_users,
    );
    router = route::<c::tag::create_tag::v3::Request, _, _>(router, account_data::tags::create_tag);
    router = route::<c::tag::delete_tag::v3::Request, _, _>(router, account_data::tags::delete_tag);
    router = route::<c::config::set_room_account_data::v3::Request, _, _>(
        router,
        account_data::set_room_account_data::set_room_account_data,
    );

    router = route::<c::filter::create_filter::v3::Request, _, _>(
        router,
        filter::create_filter::create_filter,
    );
    router =
        route::<c::filter::get_filter::v3::Request, _, _>(router, filter::get_filter::get_filter);

    router =
        route::<c::room::create_room::v3::Request, _, _>(router, room::create_room::create_room);
    router = route::<c::push::get_pushrules_all::v3::Request, _, _>(
        router,
        push::get_pushrules_all::get_pushrules_all,
    );
    router = route::<c::push::get_pushrules_global_scope::v3::Request, _, _>(
        router,
        push::get_pushrules_global_scope::get_pushrules_global_scope,
    );
    router =
        route::<c::push::get_pushrule::v3::Request, _, _>(router, push::get_pushrule::get_pushrule);
    router =
        route::<c::push::set_pushrule::v3::Request, _, _>(router, push::set_pushrule::set_pushrule);
    router = route::<c::push::delete_pushrule::v3::Request, _, _>(
        router,
        push::delete_pushrule::delete_pushrule,
    );
    router = route::<c::push::get_pushrule_enabled::v3::Request, _, _>(
        router,
        push::get_pushrule_enabled::get_pushrule_enabled,
    );
    router = route::<c::push::set_pushrule_enabled::v3::Request, _, _>(
        router,
        push::set_pushrule_enabled::set_pushrule_enabled,
    );
    router = route::<c::push::get_pushrule_actions::v3::Request, _, _>(
        router,
        push::get_pushrule_actions::get_pushrule_actions,
    );
    router = route::<c::push::set_pushrule_actions::v3::Request, _, _>(
        router,
        push::set_pushrule_actions::set_pushrule_actions,
    );
    router = route::<c::to_device::send_event_to_device::v3::Request, _, _>(
        router,
        to_device::send_event_to_device::send_event_to_device,
    );
    router =
        route::<c::keys::upload_keys::v3::Request, _, _>(router, keys::upload_keys::upload_keys);
    router = route::<c::keys::get_keys::v3::Request, _, _>(router, keys::get_keys::get_keys);
    router = route::<c::keys::get_key_changes::v3::Request, _, _>(
        router,
        keys::get_key_changes::get_key_changes,
    );
    router = route::<c::keys::claim_keys::v3::Request, _, _>(router, keys::claim_keys::claim_keys);
    router = route::<c::backup::create_backup_version::v3::Request, _, _>(
        router,
        backup::create_backup_version::create_backup_version,
    );
    router = route::<c::backup::update_backup_version::v3::Request, _, _>(
        router,
        backup::update_backup_version::update_backup_version,
    );
    router = route::<c::backup::get_backup_info::v3::Request, _, _>(
        router,
        backup::get_backup_info::get_backup_info,
    );
    router = route::<c::backup::get_latest_backup_info::v3::Request, _, _>(
        router,
        backup::get_latest_backup_info::get_latest_backup_info,
    );
    router = route::<c::backup::delete_backup_version::v3::Request, _, _>(
        router,
        backup::delete_backup_version::delete_backup_version,
    );
    router = route::<c::backup::add_backup_keys::v3::Request, _, _>(
        router,
        backup::add_backup_keys::add_backup_keys,
    );
    router = route::<c::backup::add_backup_keys_for_room::v3::Request, _, _>(
        router,
        backup::add_backup_keys_for_room::add_backup_keys_for_room,
    );
    router = route::<c::backup::add_backup_keys_for_session::v3::Request, _, _>(
        router,
        backup::add_backup_keys_for_session::add_backup_keys_for_session,
    );
    router = route::<c::backup::get_backup_keys::v3::Request, _, _>(
        router,
        backup::get_backup_keys::get_backup_keys,
    );
    router = route::<c::backup::get_backup_keys_for_room::v3::Request, _, _>(
        router,
        backup::get_backup_keys_for_room::get_backup_keys_for_room,
    );
    router = route::<c::backup::get_backup_keys_for_session::v3::Request, _, _>(
        router,
        backup::get_backup_keys_for_session::get_backup_keys_for_session,
    );
    router = route::<c::backup::delete_backup_keys::v3::Request, _, _>(
        router,
        backup::delete_backup_keys::delete_backup_keys,
    );
    router = route::<c::backup::delete_backup_keys_for_room::v3::Request, _, _>(
        router,
        backup::delete_backup_keys_for_room::delete_backup_keys_for_room,
    );
    router = route::<c::backup::delete_backup_keys_for_session::v3::Request, _, _>(
        router,
        backup::delete_backup_keys_for_session::delete_backup_keys_for_session,
    );
    router =
        route::<c::push::get_pushers::v3::Request, _, _>(router, pushers::get_pushers::get_pushers);
    router =
        route::<c::push::set_pusher::v3::Request, _, _>(router, pushers::set_pusher::set_pusher);
    router = route::<c::push::get_notifications::v3::Request, _, _>(
        router,
        pushers::get_notifications::get_notifications,
    );
    router = media::routes(router);
    router = route::<c::thirdparty::get_protocols::v3::Request, _, _>(
        router,
        thirdparty::get_protocols::get_protocols,
    );
    router = route::<c::thirdparty::get_protocol::v3::Request, _, _>(
        router,
        thirdparty::get_protocol::get_protocol,
    );
    router = route::<c::thirdparty::get_location_for_protocol::v3::Request, _, _>(
        router,
        thirdparty::get_location_for_protocol::get_location_for_protocol,
    );
    router = route::<c::thirdparty::get_user_for_protocol::v3::Request, _, _>(
        router,
        thirdparty::get_user_for_protocol::get_user_for_protocol,
    );
    router = route::<c::thirdparty::get_location_for_room_alias::v3::Request, _, _>(
        router,
        thirdparty::get_location_for_room_alias::get_location_for_room_alias,
    );
    router = route::<c::thirdparty::get_user_for_user_id::v3::Request, _, _>(
        router,
        thirdparty::get_user_for_user_id::get_user_for_user_id,
    );
    router = route::<c::appservice::set_room_visibility::v3::Request, _, _>(
        router,
        directory::set_room_visibility_appservice::set_room_visibility_appservice,
    );
    router = route::<c::appservice::request_ping::v1::Request, _, _>(
        router,
        appservice::request_ping::request_ping,
    );
    router = route::<c::keys::upload_signing_keys::v3::Request, _, _>(
        router,
        keys::upload_signing_keys::upload_signing_keys,
    );
    router = route::<c::keys::upload_signatures::v3::Request, _, _>(
        router,
        keys::upload_signatures::upload_signatures,
    );
    router = route::<c::space::get_hierarchy::v1::Request, _, _>(
        router,
        room::get_hierarchy::get_hierarchy,
    );
    router = route::<c::room::get_room_event::v3::Request, _, _>(
        router,
        room::get_room_event::get_room_event,
    );
    router = route::<c::membership::join_room_by_id::v3::Request, _, _>(
        router,
        membership::join_room_by_id::join_room_by_id,
    );
    router = route::<c::membership::join_room_by_id_or_alias::v3::Request, _, _>(
        router,
        membership::join_room_by_id_or_alias::join_room_by_id_or_alias,
    );
    router = route::<c::membership::invite_user::v3::Request, _, _>(
        router,
        membership::invite_user::invite_user,
    );
    router = route::<c::membership::leave_room::v3::Request, _, _>(
        router,
        membership::leave_room::leave_room,
    );
    router = route::<c::membership::forget_room::v3::Request, _, _>(
        router,
        membership::forget_room::forget_room,
    );
    router = route::<c::membership::kick_user::v3::Request, _, _>(
        router,
        membership::kick_user::kick_user,
    );
    router =
        route::<c::membership::ban_user::v3::Request, _, _>(router, membership::ban_user::ban_user);
    router = route::<c::membership::unban_user::v3::Request, _, _>(
        router,
        membership::unban_user::unban_user,
    );
    router = route::<c::membership::joined_rooms::v3::Request, _, _>(
        router,
        membership::joined_rooms::joined_rooms,
    );
    router = route::<c::membership::get_member_events::v3::Request, _, _>(
        router,
        membership::get_member_events::get_member_events,
    );
    router = route::<c::membership::joined_members::v3::Request, _, _>(
        router,
        membership::joined_members::joined_members,
    );
    router = route::<c::message::send_message_event::v3::Request, _, _>(
        router,
        message::send_message_event::send_message_event,
    );
    router = route::<c::message::get_message_events::v3::Request, _, _>(
        router,
        message::get_message_events::get_message_events,
    );
    router = route::<c::redact::redact_event::v3::Request, _, _>(
        router,
        message::redact_event::redact_event,
    );
    router = route_with_optional_last_segment::<c::state::send_state_event::v3::Request, _, _>(
        router,
        state::send_state_event::send_state_event,
    );
    router = route_with_optional_last_segment::<c::state::get_state_event_for_key::v3::Request, _, _>(
        router,
        state::get_state_event_for_key::get_state_event_for_key,
    );
    router = route::<c::state::get_state_events::v3::Request, _, _>(
        router,
        state::get_state_events::get_state_events,
    );
    router =
        route::<c::sync::sync_events::v3::Request, _, _>(router, sync::sync_events::sync_events);
    router = route::<c::sync::sync_events::v5::Request, _, _>(router, sync::sliding::sliding_sync);
    router = route::<c::alias::create_alias::v3::Request, _, _>(
        router,
        directory::create_alias::create_alias,
    );
    router =
        route::<c::alias::get_alias::v3::Request, _, _>(router, directory::get_alias::get_alias);
    router = route::<c::alias::delete_alias::v3::Request, _, _>(
        router,
        directory::delete_alias::delete_alias,
    );
    router = route::<c::room::aliases::v3::Request, _, _>(
        router,
        directory::get_room_aliases::get_room_aliases,
    );
    router = route::<c::directory::get_room_visibility::v3::Request, _, _>(
        router,
        directory::get_room_visibility::get_room_visibility,
    );
    router = route::<c::directory::set_room_visibility::v3::Request, _, _>(
        router,
        directory::set_room_visibility::set_room_visibility,
    );

    router = route::<c::typing::create_typing_event::v3::Request, _, _>(
        router,
        ephemeral::create_typing_event::create_typing_event,
    );
    router = route::<c::receipt::create_receipt::v3::Request, _, _>(
        router,
        ephemeral::create_receipt::create_receipt,
    );
    router = route::<c::read_marker::set_read_marker::v3::Request, _, _>(
        router,
        ephemeral::set_read_marker::set_read_marker,
    );

    router =
        route::<c::context::get_context::v3::Request, _, _>(router, room::get_context::get_context);
    router = route::<c::room::get_event_by_timestamp::v1::Request, _, _>(
        router,
        room::get_event_by_timestamp::get_event_by_timestamp,
    );
    router = route::<c::directory::get_public_rooms::v3::Request, _, _>(
        router,
        directory::get_public_rooms::get_public_rooms,
    );
    router = route::<c::directory::get_public_rooms_filtered::v3::Request, _, _>(
        router,
        directory::get_public_rooms::get_public_rooms_filtered,
    );
    router = route::<c::knock::knock_room::v3::Request, _, _>(
        router,
        membership::knock_room::knock_room,
    );

    router = route::<c::relations::get_relating_events::v1::Request, _, _>(
        router,
        relations::get_relating_events::get_relating_events,
    );
    router = route::<c::relations::get_relating_events_with_rel_type::v1::Request, _, _>(
        router,
        relations::get_relating_events::get_relating_events_with_rel_type,
    );
    router =
        route::<c::relations::get_relating_events_with_rel_type_and_event_type::v1::Request, _, _>(
            router,
            relations::get_relating_events::get_relating_events_with_rel_type_and_event_type,
        );
    router = route::<c::threads::get_threads::v1::Request, _, _>(
        router,
        relations::get_threads::get_threads,
    );

    router = route::<c::presence::set_presence::v3::Request, _, _>(
        router,
        presence::set_presence::set_presence,
    );
    router = route::<c::presence::get_presence::v3::Request, _, _>(
        router,
        presence::get_presence::get_presence,
    );
    router
}
