//! Synapse admin endpoints: the users family (see `endpoints`).

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

endpoint!(
    /// `GET /_synapse/admin/v1/whois/{userId}`
    whois, GET, "/_synapse/admin/v1/whois/{user_id}",
    user_id: ruma::OwnedUserId
);

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

endpoint!(
    /// `GET /_synapse/admin/v3/users`: the v2 listing whose `deactivated` filter is tri-state.
    list_users_v3, GET, "/_synapse/admin/v3/users"
);

endpoint!(
    /// `GET /_synapse/admin/v2/users/{user_id}/devices`: The user's devices.
    list_devices, GET, "/_synapse/admin/v2/users/{user_id}/devices",
    user_id: ruma::OwnedUserId
);

endpoint!(
    /// `GET /_synapse/admin/v2/users/{user_id}/devices/{device_id}`: One device.
    get_device, GET, "/_synapse/admin/v2/users/{user_id}/devices/{device_id}",
    user_id: ruma::OwnedUserId,
    device_id: ruma::OwnedDeviceId
);

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

endpoint!(
    /// `DELETE /_synapse/admin/v2/users/{user_id}/devices/{device_id}`: Deletes a device.
    delete_device, DELETE, "/_synapse/admin/v2/users/{user_id}/devices/{device_id}",
    user_id: ruma::OwnedUserId,
    device_id: ruma::OwnedDeviceId
);

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

endpoint!(
    /// `GET /_synapse/admin/v1/users/{user_id}/pushers`: The user's pushers.
    list_pushers, GET, "/_synapse/admin/v1/users/{user_id}/pushers",
    user_id: ruma::OwnedUserId
);

endpoint!(
    /// `GET /_synapse/admin/v1/users/{user_id}/accountdata`: The user's account data.
    account_data, GET, "/_synapse/admin/v1/users/{user_id}/accountdata",
    user_id: ruma::OwnedUserId
);

endpoint!(
    /// `POST /_synapse/admin/v1/users/{userId}/shadow_ban`
    shadow_ban, POST, "/_synapse/admin/v1/users/{user_id}/shadow_ban",
    user_id: ruma::OwnedUserId
);

endpoint!(
    /// `DELETE /_synapse/admin/v1/users/{userId}/shadow_ban`
    unshadow_ban, DELETE, "/_synapse/admin/v1/users/{user_id}/shadow_ban",
    user_id: ruma::OwnedUserId
);

endpoint!(
    /// `GET /_synapse/admin/v1/users/{userId}/override_ratelimit`
    get_ratelimit, GET, "/_synapse/admin/v1/users/{user_id}/override_ratelimit",
    user_id: ruma::OwnedUserId
);

endpoint!(
    /// `POST /_synapse/admin/v1/users/{userId}/override_ratelimit`, with `messages_per_second`
    /// and `burst_count` in the body (both optional, 0 when left out).
    set_ratelimit, POST, "/_synapse/admin/v1/users/{user_id}/override_ratelimit",
    user_id: ruma::OwnedUserId
);

endpoint!(
    /// `DELETE /_synapse/admin/v1/users/{userId}/override_ratelimit`
    delete_ratelimit, DELETE, "/_synapse/admin/v1/users/{user_id}/override_ratelimit",
    user_id: ruma::OwnedUserId
);

endpoint!(
    /// `PUT /_synapse/admin/v1/suspend/{userId}`, with `suspend` in the body.
    suspend_user, PUT, "/_synapse/admin/v1/suspend/{user_id}",
    user_id: ruma::OwnedUserId
);

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

endpoint!(
    /// `GET /_synapse/admin/v1/user/redact_status/{redactId}`
    redact_status, GET, "/_synapse/admin/v1/user/redact_status/{redact_id}",
    redact_id: String
);

endpoint!(
    /// `GET /_synapse/admin/v1/users/{userId}/memberships`
    user_memberships, GET, "/_synapse/admin/v1/users/{user_id}/memberships",
    user_id: ruma::OwnedUserId
);

endpoint!(
    /// `GET /_synapse/admin/v1/users/{userId}/sent_invite_count?from_ts=…`
    sent_invite_count, GET, "/_synapse/admin/v1/users/{user_id}/sent_invite_count",
    user_id: ruma::OwnedUserId
);

endpoint!(
    /// `GET /_synapse/admin/v1/users/{userId}/cumulative_joined_room_count?from_ts=…`
    cumulative_joined_room_count, GET, "/_synapse/admin/v1/users/{user_id}/cumulative_joined_room_count",
    user_id: ruma::OwnedUserId
);

endpoint!(
    /// `POST /_synapse/admin/v2/users/{userId}/devices`, with `device_id` in the body.
    create_device, POST, "/_synapse/admin/v2/users/{user_id}/devices",
    user_id: ruma::OwnedUserId
);

endpoint!(
    /// `GET /_synapse/admin/v1/auth_providers/{provider}/users/{externalId}`
    user_by_external_id, GET, "/_synapse/admin/v1/auth_providers/{provider}/users/{external_id}",
    provider: String,
    external_id: String
);

endpoint!(
    /// `GET /_synapse/admin/v1/threepid/{medium}/users/{address}`
    user_by_threepid, GET, "/_synapse/admin/v1/threepid/{medium}/users/{address}",
    medium: String,
    address: String
);

endpoint!(
    /// `POST /_synapse/admin/v1/users/{userId}/_allow_cross_signing_replacement_without_uia`
    allow_cross_signing_replacement, POST, "/_synapse/admin/v1/users/{user_id}/_allow_cross_signing_replacement_without_uia",
    user_id: ruma::OwnedUserId
);
