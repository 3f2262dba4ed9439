//! Endpoints of Synapse's admin API that the `synapse-admin-api` crate does not type, declared
//! the same way (ruma's metadata and request macros), so that their routes come from metadata
//! like every other route. Their shapes follow Synapse's `docs/admin_api/`.

/// `POST /_synapse/admin/v1/register`, tolerant as Synapse is: `displayname`, `admin` and
/// `user_type` may be left out (`register_new_matrix_user` leaves some out).
pub mod shared_secret_register {
    use ruma::api::{auth_scheme::NoAuthentication, metadata, request, response};

    metadata! {
        method: POST,
        rate_limited: true,
        authentication: NoAuthentication,
        path: "/_synapse/admin/v1/register",
    }

    #[request]
    pub struct Request {
        pub nonce: String,
        pub username: String,
        pub password: String,
        #[serde(default)]
        pub displayname: Option<String>,
        #[serde(default)]
        pub admin: bool,
        #[serde(default)]
        pub user_type: Option<String>,
        pub mac: String,
    }

    #[response]
    pub struct Response {}
}

/// `GET /_synapse/admin/v1/whois/{userId}`
pub mod whois {
    use ruma::{
        OwnedUserId,
        api::{auth_scheme::AccessToken, metadata, request, response},
    };

    metadata! {
        method: GET,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/whois/{user_id}",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub user_id: OwnedUserId,
    }

    #[response]
    pub struct Response {}
}

/// `PUT /_synapse/admin/v1/users/{userId}/admin`
pub mod set_user_admin {
    use ruma::{
        OwnedUserId,
        api::{auth_scheme::AccessToken, metadata, request, response},
    };

    metadata! {
        method: PUT,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/users/{user_id}/admin",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub user_id: OwnedUserId,
        pub admin: bool,
    }

    #[response]
    pub struct Response {}
}

/// `GET /_synapse/admin/v1/username_available?username=…`
pub mod username_available {
    use ruma::api::{auth_scheme::AccessToken, metadata, request, response};

    metadata! {
        method: GET,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/username_available",
    }

    #[request]
    pub struct Request {
        #[ruma_api(query)]
        pub username: String,
    }

    #[response]
    pub struct Response {}
}

/// `GET /_synapse/admin/v3/users`: the v2 listing whose `deactivated` filter is tri-state.
pub mod list_users_v3 {
    use ruma::api::{auth_scheme::AccessToken, metadata, request, response};

    metadata! {
        method: GET,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v3/users",
    }

    #[request]
    pub struct Request {}

    #[response]
    pub struct Response {}
}

/// `GET /_synapse/admin/v1/rooms/{roomId}/state`
pub mod room_state {
    use ruma::{
        OwnedRoomId,
        api::{auth_scheme::AccessToken, metadata, request, response},
    };

    metadata! {
        method: GET,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/rooms/{room_id}/state",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub room_id: OwnedRoomId,
    }

    #[response]
    pub struct Response {}
}

/// `GET /_synapse/admin/v2/users/{user_id}/devices`: The user's devices.
pub mod list_devices {
    use ruma::{
        OwnedUserId,
        api::{auth_scheme::AccessToken, metadata, request, response},
    };

    metadata! {
        method: GET,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v2/users/{user_id}/devices",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub user_id: OwnedUserId,
    }

    #[response]
    pub struct Response {}
}

/// `GET /_synapse/admin/v2/users/{user_id}/devices/{device_id}`: One device.
pub mod get_device {
    use ruma::{
        OwnedDeviceId, OwnedUserId,
        api::{auth_scheme::AccessToken, metadata, request, response},
    };

    metadata! {
        method: GET,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v2/users/{user_id}/devices/{device_id}",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub user_id: OwnedUserId,
        #[ruma_api(path)]
        pub device_id: OwnedDeviceId,
    }

    #[response]
    pub struct Response {}
}

/// `PUT /_synapse/admin/v2/users/{user_id}/devices/{device_id}`: Renames a device.
pub mod update_device {
    use ruma::{
        OwnedDeviceId, OwnedUserId,
        api::{auth_scheme::AccessToken, metadata, request, response},
    };

    metadata! {
        method: PUT,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v2/users/{user_id}/devices/{device_id}",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub user_id: OwnedUserId,
        #[ruma_api(path)]
        pub device_id: OwnedDeviceId,
        #[serde(default)]
        pub display_name: Option<String>,
    }

    #[response]
    pub struct Response {}
}

/// `DELETE /_synapse/admin/v2/users/{user_id}/devices/{device_id}`: Deletes a device.
pub mod delete_device {
    use ruma::{
        OwnedDeviceId, OwnedUserId,
        api::{auth_scheme::AccessToken, metadata, request, response},
    };

    metadata! {
        method: DELETE,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v2/users/{user_id}/devices/{device_id}",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub user_id: OwnedUserId,
        #[ruma_api(path)]
        pub device_id: OwnedDeviceId,
    }

    #[response]
    pub struct Response {}
}

/// `POST /_synapse/admin/v2/users/{user_id}/delete_devices`: Deletes several devices.
pub mod delete_devices {
    use ruma::{
        OwnedDeviceId, OwnedUserId,
        api::{auth_scheme::AccessToken, metadata, request, response},
    };

    metadata! {
        method: POST,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v2/users/{user_id}/delete_devices",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub user_id: OwnedUserId,
        #[serde(default)]
        pub devices: Vec<OwnedDeviceId>,
    }

    #[response]
    pub struct Response {}
}

/// `POST /_synapse/admin/v1/users/{user_id}/login`: A token to act as the user.
pub mod login_as {
    use ruma::{
        OwnedUserId,
        api::{auth_scheme::AccessToken, metadata, request, response},
    };

    metadata! {
        method: POST,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/users/{user_id}/login",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub user_id: OwnedUserId,
        #[serde(default)]
        pub valid_until_ms: Option<u64>,
    }

    #[response]
    pub struct Response {}
}

/// `GET /_synapse/admin/v1/users/{user_id}/pushers`: The user's pushers.
pub mod list_pushers {
    use ruma::{
        OwnedUserId,
        api::{auth_scheme::AccessToken, metadata, request, response},
    };

    metadata! {
        method: GET,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/users/{user_id}/pushers",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub user_id: OwnedUserId,
    }

    #[response]
    pub struct Response {}
}

/// `GET /_synapse/admin/v1/users/{user_id}/accountdata`: The user's account data.
pub mod account_data {
    use ruma::{
        OwnedUserId,
        api::{auth_scheme::AccessToken, metadata, request, response},
    };

    metadata! {
        method: GET,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/users/{user_id}/accountdata",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub user_id: OwnedUserId,
    }

    #[response]
    pub struct Response {}
}

/// `GET /_synapse/admin/v1/registration_tokens`: Registration tokens.
pub mod list_registration_tokens {
    use ruma::api::{auth_scheme::AccessToken, metadata, request, response};

    metadata! {
        method: GET,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/registration_tokens",
    }

    #[request]
    pub struct Request {
        #[ruma_api(query)]
        #[serde(default)]
        pub valid: Option<bool>,
    }

    #[response]
    pub struct Response {}
}

/// `POST /_synapse/admin/v1/registration_tokens/new`: Makes a registration token.
pub mod create_registration_token {
    use ruma::api::{auth_scheme::AccessToken, metadata, request, response};

    metadata! {
        method: POST,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/registration_tokens/new",
    }

    #[request]
    pub struct Request {
        #[serde(default)]
        pub token: Option<String>,
        #[serde(default)]
        pub uses_allowed: Option<u32>,
        #[serde(default)]
        pub expiry_time: Option<u64>,
        #[serde(default)]
        pub length: Option<usize>,
    }

    #[response]
    pub struct Response {}
}

/// `GET /_synapse/admin/v1/registration_tokens/{token}`: One registration token.
pub mod get_registration_token {
    use ruma::api::{auth_scheme::AccessToken, metadata, request, response};

    metadata! {
        method: GET,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/registration_tokens/{token}",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub token: String,
    }

    #[response]
    pub struct Response {}
}

/// `PUT /_synapse/admin/v1/registration_tokens/{token}`: Changes a registration token's limits (read from the raw body: `null` lifts a limit).
pub mod update_registration_token {
    use ruma::api::{auth_scheme::AccessToken, metadata, request, response};

    metadata! {
        method: PUT,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/registration_tokens/{token}",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub token: String,
    }

    #[response]
    pub struct Response {}
}

/// `DELETE /_synapse/admin/v1/registration_tokens/{token}`: Deletes a registration token.
pub mod delete_registration_token {
    use ruma::api::{auth_scheme::AccessToken, metadata, request, response};

    metadata! {
        method: DELETE,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/registration_tokens/{token}",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub token: String,
    }

    #[response]
    pub struct Response {}
}

/// `GET /_synapse/admin/v1/event_reports`: Event reports (paging and filters read from the query string).
pub mod list_event_reports {
    use ruma::api::{auth_scheme::AccessToken, metadata, request, response};

    metadata! {
        method: GET,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/event_reports",
    }

    #[request]
    pub struct Request {}

    #[response]
    pub struct Response {}
}

/// `GET /_synapse/admin/v1/event_reports/{report_id}`: One event report.
pub mod get_event_report {
    use ruma::api::{auth_scheme::AccessToken, metadata, request, response};

    metadata! {
        method: GET,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/event_reports/{report_id}",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub report_id: String,
    }

    #[response]
    pub struct Response {}
}

/// `DELETE /_synapse/admin/v1/event_reports/{report_id}`: Deletes an event report.
pub mod delete_event_report {
    use ruma::api::{auth_scheme::AccessToken, metadata, request, response};

    metadata! {
        method: DELETE,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/event_reports/{report_id}",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub report_id: String,
    }

    #[response]
    pub struct Response {}
}

/// `GET /_synapse/admin/v1/rooms/{roomId}/block`
pub mod get_room_block {
    use ruma::{
        OwnedRoomId,
        api::{auth_scheme::AccessToken, metadata, request, response},
    };

    metadata! {
        method: GET,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/rooms/{room_id}/block",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub room_id: OwnedRoomId,
    }

    #[response]
    pub struct Response {}
}

/// `PUT /_synapse/admin/v1/rooms/{roomId}/block`
pub mod set_room_block {
    use ruma::{
        OwnedRoomId,
        api::{auth_scheme::AccessToken, metadata, request, response},
    };

    metadata! {
        method: PUT,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/rooms/{room_id}/block",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub room_id: OwnedRoomId,
        pub block: bool,
    }

    #[response]
    pub struct Response {}
}

/// `GET /_synapse/admin/v1/federation/destinations`: Destinations (paging and order from the query string).
pub mod list_destinations {
    use ruma::api::{auth_scheme::AccessToken, metadata, request, response};

    metadata! {
        method: GET,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/federation/destinations",
    }

    #[request]
    pub struct Request {}

    #[response]
    pub struct Response {}
}

/// `GET /_synapse/admin/v1/federation/destinations/{destination}`: One destination.
pub mod get_destination {
    use ruma::{
        OwnedServerName,
        api::{auth_scheme::AccessToken, metadata, request, response},
    };

    metadata! {
        method: GET,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/federation/destinations/{destination}",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub destination: OwnedServerName,
    }

    #[response]
    pub struct Response {}
}

/// `GET /_synapse/admin/v1/federation/destinations/{destination}/rooms`: The rooms shared with a destination.
pub mod destination_rooms {
    use ruma::{
        OwnedServerName,
        api::{auth_scheme::AccessToken, metadata, request, response},
    };

    metadata! {
        method: GET,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/federation/destinations/{destination}/rooms",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub destination: OwnedServerName,
    }

    #[response]
    pub struct Response {}
}

/// `POST /_synapse/admin/v1/federation/destinations/{destination}/reset_connection`: Ends a destination's backoff.
pub mod reset_destination {
    use ruma::{
        OwnedServerName,
        api::{auth_scheme::AccessToken, metadata, request, response},
    };

    metadata! {
        method: POST,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/federation/destinations/{destination}/reset_connection",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub destination: OwnedServerName,
    }

    #[response]
    pub struct Response {}
}

/// `GET /_synapse/admin/v1/media/{server_name}/{media_id}`: What is known of one piece of media.
pub mod media_info {
    use ruma::{
        OwnedServerName,
        api::{auth_scheme::AccessToken, metadata, request, response},
    };

    metadata! {
        method: GET,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/media/{server_name}/{media_id}",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub server_name: OwnedServerName,
        #[ruma_api(path)]
        pub media_id: String,
    }

    #[response]
    pub struct Response {}
}

/// `DELETE /_synapse/admin/v1/media/{server_name}/{media_id}`: Deletes local media.
pub mod delete_media {
    use ruma::{
        OwnedServerName,
        api::{auth_scheme::AccessToken, metadata, request, response},
    };

    metadata! {
        method: DELETE,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/media/{server_name}/{media_id}",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub server_name: OwnedServerName,
        #[ruma_api(path)]
        pub media_id: String,
    }

    #[response]
    pub struct Response {}
}

/// `POST /_synapse/admin/v1/media/delete`: Deletes local media by date and size (query string).
pub mod delete_media_before {
    use ruma::api::{auth_scheme::AccessToken, metadata, request, response};

    metadata! {
        method: POST,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/media/delete",
    }

    #[request]
    pub struct Request {}

    #[response]
    pub struct Response {}
}

/// `POST /_synapse/admin/v1/purge_media_cache`: Deletes cached remote media by date (query string).
pub mod purge_media_cache {
    use ruma::api::{auth_scheme::AccessToken, metadata, request, response};

    metadata! {
        method: POST,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/purge_media_cache",
    }

    #[request]
    pub struct Request {}

    #[response]
    pub struct Response {}
}

/// `GET /_synapse/admin/v1/users/{user_id}/media`: A user's uploads (paging from the query string).
pub mod user_media {
    use ruma::{
        OwnedUserId,
        api::{auth_scheme::AccessToken, metadata, request, response},
    };

    metadata! {
        method: GET,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/users/{user_id}/media",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub user_id: OwnedUserId,
    }

    #[response]
    pub struct Response {}
}

/// `DELETE /_synapse/admin/v1/users/{user_id}/media`: Deletes a user's uploads.
pub mod delete_user_media {
    use ruma::{
        OwnedUserId,
        api::{auth_scheme::AccessToken, metadata, request, response},
    };

    metadata! {
        method: DELETE,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/users/{user_id}/media",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub user_id: OwnedUserId,
    }

    #[response]
    pub struct Response {}
}

/// `POST /_synapse/admin/v1/media/quarantine/{server_name}/{media_id}`: Quarantines media.
pub mod quarantine_media {
    use ruma::{
        OwnedServerName,
        api::{auth_scheme::AccessToken, metadata, request, response},
    };

    metadata! {
        method: POST,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/media/quarantine/{server_name}/{media_id}",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub server_name: OwnedServerName,
        #[ruma_api(path)]
        pub media_id: String,
    }

    #[response]
    pub struct Response {}
}

/// `POST /_synapse/admin/v1/media/unquarantine/{server_name}/{media_id}`: Lifts a quarantine.
pub mod unquarantine_media {
    use ruma::{
        OwnedServerName,
        api::{auth_scheme::AccessToken, metadata, request, response},
    };

    metadata! {
        method: POST,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/media/unquarantine/{server_name}/{media_id}",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub server_name: OwnedServerName,
        #[ruma_api(path)]
        pub media_id: String,
    }

    #[response]
    pub struct Response {}
}

/// `POST /_synapse/admin/v1/media/protect/{media_id}`: Protects local media from quarantine.
pub mod protect_media {
    use ruma::api::{auth_scheme::AccessToken, metadata, request, response};

    metadata! {
        method: POST,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/media/protect/{media_id}",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub media_id: String,
    }

    #[response]
    pub struct Response {}
}

/// `POST /_synapse/admin/v1/media/unprotect/{media_id}`: Lifts the protection.
pub mod unprotect_media {
    use ruma::api::{auth_scheme::AccessToken, metadata, request, response};

    metadata! {
        method: POST,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/media/unprotect/{media_id}",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub media_id: String,
    }

    #[response]
    pub struct Response {}
}

/// `POST /_synapse/admin/v1/send_server_notice`
pub mod send_server_notice {
    use ruma::{
        OwnedUserId,
        api::{auth_scheme::AccessToken, metadata, request, response},
    };

    metadata! {
        method: POST,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/send_server_notice",
    }

    #[request]
    pub struct Request {
        pub user_id: OwnedUserId,
        pub content: serde_json::Value,
        #[serde(default, rename = "type")]
        pub kind: Option<String>,
        #[serde(default)]
        pub state_key: Option<String>,
    }

    #[response]
    pub struct Response {}
}

/// `PUT /_synapse/admin/v1/send_server_notice/{txnId}`
pub mod send_server_notice_txn {
    use ruma::{
        OwnedUserId,
        api::{auth_scheme::AccessToken, metadata, request, response},
    };

    metadata! {
        method: PUT,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/send_server_notice/{txn_id}",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub txn_id: String,
        pub user_id: OwnedUserId,
        pub content: serde_json::Value,
        #[serde(default, rename = "type")]
        pub kind: Option<String>,
        #[serde(default)]
        pub state_key: Option<String>,
    }

    #[response]
    pub struct Response {}
}

/// `DELETE /_synapse/admin/v2/rooms/{roomId}`
pub mod delete_room {
    use ruma::{
        OwnedRoomId,
        api::{auth_scheme::AccessToken, metadata, request, response},
    };

    metadata! {
        method: DELETE,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v2/rooms/{room_id}",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub room_id: OwnedRoomId,
        #[serde(default)]
        pub block: bool,
        #[serde(default = "ruma::serde::default_true")]
        pub purge: bool,
        #[serde(default)]
        pub new_room_user_id: Option<String>,
        #[serde(default)]
        pub room_name: Option<String>,
        #[serde(default)]
        pub message: Option<String>,
    }

    #[response]
    pub struct Response {}
}

/// `DELETE /_synapse/admin/v1/rooms/{roomId}`: the synchronous shutdown (same body as v2).
pub mod delete_room_v1 {
    use ruma::{
        OwnedRoomId,
        api::{auth_scheme::AccessToken, metadata, request, response},
    };

    metadata! {
        method: DELETE,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/rooms/{room_id}",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub room_id: OwnedRoomId,
        #[serde(default)]
        pub block: bool,
        #[serde(default = "ruma::serde::default_true")]
        pub purge: bool,
        #[serde(default)]
        pub new_room_user_id: Option<String>,
        #[serde(default)]
        pub room_name: Option<String>,
        #[serde(default)]
        pub message: Option<String>,
    }

    #[response]
    pub struct Response {}
}

/// `GET /_synapse/admin/v2/rooms/{roomId}/delete_status`
pub mod room_delete_status {
    use ruma::{
        OwnedRoomId,
        api::{auth_scheme::AccessToken, metadata, request, response},
    };

    metadata! {
        method: GET,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v2/rooms/{room_id}/delete_status",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub room_id: OwnedRoomId,
    }

    #[response]
    pub struct Response {}
}

/// `GET /_synapse/admin/v2/rooms/delete_status/{deleteId}`
pub mod delete_status {
    use ruma::api::{auth_scheme::AccessToken, metadata, request, response};

    metadata! {
        method: GET,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v2/rooms/delete_status/{delete_id}",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub delete_id: String,
    }

    #[response]
    pub struct Response {}
}

/// `GET /_synapse/admin/v1/rooms/{room_id}/forward_extremities`: A room's forward extremities.
pub mod forward_extremities {
    use ruma::{
        OwnedRoomId,
        api::{auth_scheme::AccessToken, metadata, request, response},
    };

    metadata! {
        method: GET,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/rooms/{room_id}/forward_extremities",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub room_id: OwnedRoomId,
    }

    #[response]
    pub struct Response {}
}

/// `GET /_synapse/admin/v1/statistics/users/media`: Media uploaded per user (paging from the query string).
pub mod media_statistics {
    use ruma::api::{auth_scheme::AccessToken, metadata, request, response};

    metadata! {
        method: GET,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/statistics/users/media",
    }

    #[request]
    pub struct Request {}

    #[response]
    pub struct Response {}
}

/// `POST /_synapse/admin/v1/user/{user_id}/media/quarantine`: Quarantines every upload of a user.
pub mod quarantine_user_media {
    use ruma::{
        OwnedUserId,
        api::{auth_scheme::AccessToken, metadata, request, response},
    };

    metadata! {
        method: POST,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/user/{user_id}/media/quarantine",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub user_id: OwnedUserId,
    }

    #[response]
    pub struct Response {}
}

/// `POST /_synapse/admin/v1/rooms/{room_id}/make_room_admin`: Gives a local user the highest power in a room (`user_id` in the body, the caller by default).
pub mod make_room_admin {
    use ruma::{
        OwnedRoomId,
        api::{auth_scheme::AccessToken, metadata, request, response},
    };

    metadata! {
        method: POST,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/rooms/{room_id}/make_room_admin",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub room_id: OwnedRoomId,
        #[serde(default)]
        pub user_id: Option<ruma::OwnedUserId>,
    }

    #[response]
    pub struct Response {}
}

/// An endpoint whose only parameter is the user in its path (a body, where there is one, is
/// read by the handler).
macro_rules! user_endpoint {
    ($(#[$doc:meta])* $name:ident, $method:ident, $path:literal) => {
        $(#[$doc])*
        pub mod $name {
            use ruma::{
                OwnedUserId,
                api::{auth_scheme::AccessToken, metadata, request, response},
            };

            metadata! {
                method: $method,
                rate_limited: false,
                authentication: AccessToken,
                path: $path,
            }

            #[request]
            pub struct Request {
                #[ruma_api(path)]
                pub user_id: OwnedUserId,
            }

            #[response]
            pub struct Response {}
        }
    };
}

user_endpoint!(
    /// `POST /_synapse/admin/v1/users/{userId}/shadow_ban`
    shadow_ban, POST, "/_synapse/admin/v1/users/{user_id}/shadow_ban"
);
user_endpoint!(
    /// `DELETE /_synapse/admin/v1/users/{userId}/shadow_ban`
    unshadow_ban, DELETE, "/_synapse/admin/v1/users/{user_id}/shadow_ban"
);
user_endpoint!(
    /// `GET /_synapse/admin/v1/users/{userId}/override_ratelimit`
    get_ratelimit, GET, "/_synapse/admin/v1/users/{user_id}/override_ratelimit"
);
user_endpoint!(
    /// `POST /_synapse/admin/v1/users/{userId}/override_ratelimit`, with `messages_per_second`
    /// and `burst_count` in the body (both optional, 0 when left out).
    set_ratelimit, POST, "/_synapse/admin/v1/users/{user_id}/override_ratelimit"
);
user_endpoint!(
    /// `DELETE /_synapse/admin/v1/users/{userId}/override_ratelimit`
    delete_ratelimit, DELETE, "/_synapse/admin/v1/users/{user_id}/override_ratelimit"
);
user_endpoint!(
    /// `PUT /_synapse/admin/v1/suspend/{userId}`, with `suspend` in the body.
    suspend_user, PUT, "/_synapse/admin/v1/suspend/{user_id}"
);

/// `POST /_synapse/admin/v1/purge_history/{roomId}` with the point in the body.
pub mod purge_history {
    use ruma::{
        OwnedEventId, OwnedRoomId,
        api::{auth_scheme::AccessToken, metadata, request, response},
    };

    metadata! {
        method: POST,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/purge_history/{room_id}",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub room_id: OwnedRoomId,
        #[serde(default)]
        pub delete_local_events: bool,
        #[serde(default)]
        pub purge_up_to_event_id: Option<OwnedEventId>,
        #[serde(default)]
        pub purge_up_to_ts: Option<u64>,
    }

    #[response]
    pub struct Response {}
}

/// `POST /_synapse/admin/v1/purge_history/{roomId}/{eventId}`: the point in the path.
pub mod purge_history_to_event {
    use ruma::{
        OwnedEventId, OwnedRoomId,
        api::{auth_scheme::AccessToken, metadata, request, response},
    };

    metadata! {
        method: POST,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/purge_history/{room_id}/{event_id}",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub room_id: OwnedRoomId,
        #[ruma_api(path)]
        pub event_id: OwnedEventId,
        #[serde(default)]
        pub delete_local_events: bool,
    }

    #[response]
    pub struct Response {}
}

/// `GET /_synapse/admin/v1/purge_history_status/{purgeId}`
pub mod purge_history_status {
    use ruma::api::{auth_scheme::AccessToken, metadata, request, response};

    metadata! {
        method: GET,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/purge_history_status/{purge_id}",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub purge_id: String,
    }

    #[response]
    pub struct Response {}
}

/// `POST /_synapse/admin/v1/user/{userId}/redact`
pub mod redact_user {
    use ruma::{
        OwnedRoomId, OwnedUserId,
        api::{auth_scheme::AccessToken, metadata, request, response},
    };

    metadata! {
        method: POST,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/user/{user_id}/redact",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub user_id: OwnedUserId,
        /// Empty (or left out): every room the user is or was in.
        #[serde(default)]
        pub rooms: Vec<OwnedRoomId>,
        #[serde(default)]
        pub reason: Option<String>,
        #[serde(default)]
        pub limit: Option<u64>,
    }

    #[response]
    pub struct Response {}
}

/// `GET /_synapse/admin/v1/user/redact_status/{redactId}`
pub mod redact_status {
    use ruma::api::{auth_scheme::AccessToken, metadata, request, response};

    metadata! {
        method: GET,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/user/redact_status/{redact_id}",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub redact_id: String,
    }

    #[response]
    pub struct Response {}
}

/// `GET /_synapse/admin/v1/rooms/{roomId}/messages`
pub mod room_messages {
    use ruma::{
        OwnedRoomId,
        api::{auth_scheme::AccessToken, metadata, request, response},
    };

    metadata! {
        method: GET,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/rooms/{room_id}/messages",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub room_id: OwnedRoomId,
        #[ruma_api(query)]
        #[serde(default)]
        pub from: Option<String>,
        #[ruma_api(query)]
        #[serde(default)]
        pub to: Option<String>,
        #[ruma_api(query)]
        #[serde(default)]
        pub limit: Option<u64>,
        #[ruma_api(query)]
        #[serde(default)]
        pub dir: Option<String>,
        #[ruma_api(query)]
        #[serde(default)]
        pub filter: Option<String>,
    }

    #[response]
    pub struct Response {}
}

/// `GET /_synapse/admin/v1/rooms/{roomId}/context/{eventId}`
pub mod room_context {
    use ruma::{
        OwnedEventId, OwnedRoomId,
        api::{auth_scheme::AccessToken, metadata, request, response},
    };

    metadata! {
        method: GET,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/rooms/{room_id}/context/{event_id}",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub room_id: OwnedRoomId,
        #[ruma_api(path)]
        pub event_id: OwnedEventId,
        #[ruma_api(query)]
        #[serde(default)]
        pub limit: Option<u64>,
        #[ruma_api(query)]
        #[serde(default)]
        pub filter: Option<String>,
    }

    #[response]
    pub struct Response {}
}

/// A room endpoint whose only parameter is the room in its path.
macro_rules! room_endpoint {
    ($(#[$doc:meta])* $name:ident, $method:ident, $path:literal) => {
        $(#[$doc])*
        pub mod $name {
            use ruma::{
                OwnedRoomId,
                api::{auth_scheme::AccessToken, metadata, request, response},
            };

            metadata! {
                method: $method,
                rate_limited: false,
                authentication: AccessToken,
                path: $path,
            }

            #[request]
            pub struct Request {
                #[ruma_api(path)]
                pub room_id: OwnedRoomId,
            }

            #[response]
            pub struct Response {}
        }
    };
}

room_endpoint!(
    /// `GET /_synapse/admin/v1/room/{roomId}/media`
    room_media, GET, "/_synapse/admin/v1/room/{room_id}/media"
);
room_endpoint!(
    /// `POST /_synapse/admin/v1/room/{roomId}/media/quarantine`
    quarantine_room_media, POST, "/_synapse/admin/v1/room/{room_id}/media/quarantine"
);
room_endpoint!(
    /// `POST /_synapse/admin/v1/quarantine_media/{roomId}`, the older path of the same.
    quarantine_room_media_legacy, POST, "/_synapse/admin/v1/quarantine_media/{room_id}"
);

/// `GET /_synapse/admin/v1/statistics/database/rooms`
pub mod database_room_statistics {
    use ruma::api::{auth_scheme::AccessToken, metadata, request, response};

    metadata! {
        method: GET,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/statistics/database/rooms",
    }

    #[request]
    pub struct Request {}

    #[response]
    pub struct Response {}
}

user_endpoint!(
    /// `GET /_synapse/admin/v1/users/{userId}/memberships`
    user_memberships, GET, "/_synapse/admin/v1/users/{user_id}/memberships"
);
user_endpoint!(
    /// `GET /_synapse/admin/v1/users/{userId}/sent_invite_count?from_ts=…`
    sent_invite_count, GET, "/_synapse/admin/v1/users/{user_id}/sent_invite_count"
);
user_endpoint!(
    /// `GET /_synapse/admin/v1/users/{userId}/cumulative_joined_room_count?from_ts=…`
    cumulative_joined_room_count, GET,
    "/_synapse/admin/v1/users/{user_id}/cumulative_joined_room_count"
);
user_endpoint!(
    /// `POST /_synapse/admin/v2/users/{userId}/devices`, with `device_id` in the body.
    create_device, POST, "/_synapse/admin/v2/users/{user_id}/devices"
);
room_endpoint!(
    /// `DELETE /_synapse/admin/v1/rooms/{roomId}/forward_extremities`
    delete_forward_extremities, DELETE, "/_synapse/admin/v1/rooms/{room_id}/forward_extremities"
);
room_endpoint!(
    /// `GET /_synapse/admin/v1/rooms/{roomId}/timestamp_to_event?ts=…&dir=…`
    room_timestamp_to_event, GET, "/_synapse/admin/v1/rooms/{room_id}/timestamp_to_event"
);

/// `GET /_synapse/admin/v1/fetch_event/{eventId}`
pub mod fetch_event {
    use ruma::{
        OwnedEventId,
        api::{auth_scheme::AccessToken, metadata, request, response},
    };

    metadata! {
        method: GET,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/fetch_event/{event_id}",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub event_id: OwnedEventId,
    }

    #[response]
    pub struct Response {}
}

/// `GET /_synapse/admin/v1/auth_providers/{provider}/users/{externalId}`
pub mod user_by_external_id {
    use ruma::api::{auth_scheme::AccessToken, metadata, request, response};

    metadata! {
        method: GET,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/auth_providers/{provider}/users/{external_id}",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub provider: String,
        #[ruma_api(path)]
        pub external_id: String,
    }

    #[response]
    pub struct Response {}
}

/// `GET /_synapse/admin/v1/threepid/{medium}/users/{address}`
pub mod user_by_threepid {
    use ruma::api::{auth_scheme::AccessToken, metadata, request, response};

    metadata! {
        method: GET,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/threepid/{medium}/users/{address}",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub medium: String,
        #[ruma_api(path)]
        pub address: String,
    }

    #[response]
    pub struct Response {}
}

/// `GET /_synapse/admin/v1/room_reports`
pub mod list_room_reports {
    use ruma::api::{auth_scheme::AccessToken, metadata, request, response};

    metadata! {
        method: GET,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/room_reports",
    }

    #[request]
    pub struct Request {}

    #[response]
    pub struct Response {}
}

/// `GET /_synapse/admin/v1/scheduled_tasks`
pub mod scheduled_tasks {
    use ruma::api::{auth_scheme::AccessToken, metadata, request, response};

    metadata! {
        method: GET,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/scheduled_tasks",
    }

    #[request]
    pub struct Request {}

    #[response]
    pub struct Response {}
}
user_endpoint!(
    /// `POST /_synapse/admin/v1/users/{userId}/_allow_cross_signing_replacement_without_uia`
    allow_cross_signing_replacement, POST,
    "/_synapse/admin/v1/users/{user_id}/_allow_cross_signing_replacement_without_uia"
);

/// `POST /_synapse/admin/v1/media/{serverName}/delete`: the older path of `v1/media/delete`.
pub mod delete_server_media_before {
    use ruma::{
        OwnedServerName,
        api::{auth_scheme::AccessToken, metadata, request, response},
    };

    metadata! {
        method: POST,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/media/{server_name}/delete",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub server_name: OwnedServerName,
    }

    #[response]
    pub struct Response {}
}

/// `GET /_synapse/admin/v1/rooms/{roomId}/hierarchy`
pub mod room_hierarchy {
    use ruma::{
        OwnedRoomId,
        api::{auth_scheme::AccessToken, metadata, request, response},
    };

    metadata! {
        method: GET,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/rooms/{room_id}/hierarchy",
    }

    #[request]
    pub struct Request {
        #[ruma_api(path)]
        pub room_id: OwnedRoomId,
        #[ruma_api(query)]
        #[serde(default)]
        pub from: Option<String>,
        #[ruma_api(query)]
        #[serde(default)]
        pub limit: Option<u64>,
        #[ruma_api(query)]
        #[serde(default)]
        pub max_depth: Option<u64>,
    }

    #[response]
    pub struct Response {}
}

/// An endpoint whose only parameter is a report id in its path.
macro_rules! report_endpoint {
    ($(#[$doc:meta])* $name:ident, $method:ident, $path:literal) => {
        $(#[$doc])*
        pub mod $name {
            use ruma::api::{auth_scheme::AccessToken, metadata, request, response};

            metadata! {
                method: $method,
                rate_limited: false,
                authentication: AccessToken,
                path: $path,
            }

            #[request]
            pub struct Request {
                #[ruma_api(path)]
                pub report_id: String,
            }

            #[response]
            pub struct Response {}
        }
    };
}

report_endpoint!(
    /// `GET /_synapse/admin/v1/room_reports/{reportId}`
    get_room_report, GET, "/_synapse/admin/v1/room_reports/{report_id}"
);
report_endpoint!(
    /// `DELETE /_synapse/admin/v1/room_reports/{reportId}`
    delete_room_report, DELETE, "/_synapse/admin/v1/room_reports/{report_id}"
);
report_endpoint!(
    /// `GET /_synapse/admin/v1/user_reports/{reportId}`
    get_user_report, GET, "/_synapse/admin/v1/user_reports/{report_id}"
);
report_endpoint!(
    /// `DELETE /_synapse/admin/v1/user_reports/{reportId}`
    delete_user_report, DELETE, "/_synapse/admin/v1/user_reports/{report_id}"
);

/// `GET /_synapse/admin/v1/user_reports`
pub mod list_user_reports {
    use ruma::api::{auth_scheme::AccessToken, metadata, request, response};

    metadata! {
        method: GET,
        rate_limited: false,
        authentication: AccessToken,
        path: "/_synapse/admin/v1/user_reports",
    }

    #[request]
    pub struct Request {}

    #[response]
    pub struct Response {}
}
