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
