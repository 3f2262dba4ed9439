//! Synapse admin endpoints: the server family (see `endpoints`).

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

endpoint!(
    /// `GET /_synapse/admin/v1/registration_tokens/{token}`: One registration token.
    get_registration_token, GET, "/_synapse/admin/v1/registration_tokens/{token}",
    token: String
);

endpoint!(
    /// `PUT /_synapse/admin/v1/registration_tokens/{token}`: Changes a registration token's limits (read from the raw body: `null` lifts a limit).
    update_registration_token, PUT, "/_synapse/admin/v1/registration_tokens/{token}",
    token: String
);

endpoint!(
    /// `DELETE /_synapse/admin/v1/registration_tokens/{token}`: Deletes a registration token.
    delete_registration_token, DELETE, "/_synapse/admin/v1/registration_tokens/{token}",
    token: String
);

endpoint!(
    /// `GET /_synapse/admin/v1/event_reports`: Event reports (paging and filters read from the query string).
    list_event_reports, GET, "/_synapse/admin/v1/event_reports"
);

endpoint!(
    /// `GET /_synapse/admin/v1/event_reports/{report_id}`: One event report.
    get_event_report, GET, "/_synapse/admin/v1/event_reports/{report_id}",
    report_id: String
);

endpoint!(
    /// `DELETE /_synapse/admin/v1/event_reports/{report_id}`: Deletes an event report.
    delete_event_report, DELETE, "/_synapse/admin/v1/event_reports/{report_id}",
    report_id: String
);

endpoint!(
    /// `GET /_synapse/admin/v1/federation/destinations`: Destinations (paging and order from the query string).
    list_destinations, GET, "/_synapse/admin/v1/federation/destinations"
);

endpoint!(
    /// `GET /_synapse/admin/v1/federation/destinations/{destination}`: One destination.
    get_destination, GET, "/_synapse/admin/v1/federation/destinations/{destination}",
    destination: ruma::OwnedServerName
);

endpoint!(
    /// `GET /_synapse/admin/v1/federation/destinations/{destination}/rooms`: The rooms shared with a destination.
    destination_rooms, GET, "/_synapse/admin/v1/federation/destinations/{destination}/rooms",
    destination: ruma::OwnedServerName
);

endpoint!(
    /// `POST /_synapse/admin/v1/federation/destinations/{destination}/reset_connection`: Ends a destination's backoff.
    reset_destination, POST, "/_synapse/admin/v1/federation/destinations/{destination}/reset_connection",
    destination: ruma::OwnedServerName
);

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

endpoint!(
    /// `GET /_synapse/admin/v1/statistics/database/rooms`
    database_room_statistics, GET, "/_synapse/admin/v1/statistics/database/rooms"
);

endpoint!(
    /// `GET /_synapse/admin/v1/room_reports`
    list_room_reports, GET, "/_synapse/admin/v1/room_reports"
);

endpoint!(
    /// `GET /_synapse/admin/v1/scheduled_tasks`
    scheduled_tasks, GET, "/_synapse/admin/v1/scheduled_tasks"
);

endpoint!(
    /// `GET /_synapse/admin/v1/room_reports/{reportId}`
    get_room_report, GET, "/_synapse/admin/v1/room_reports/{report_id}",
    report_id: String
);

endpoint!(
    /// `DELETE /_synapse/admin/v1/room_reports/{reportId}`
    delete_room_report, DELETE, "/_synapse/admin/v1/room_reports/{report_id}",
    report_id: String
);

endpoint!(
    /// `GET /_synapse/admin/v1/user_reports/{reportId}`
    get_user_report, GET, "/_synapse/admin/v1/user_reports/{report_id}",
    report_id: String
);

endpoint!(
    /// `DELETE /_synapse/admin/v1/user_reports/{reportId}`
    delete_user_report, DELETE, "/_synapse/admin/v1/user_reports/{report_id}",
    report_id: String
);

endpoint!(
    /// `GET /_synapse/admin/v1/user_reports`
    list_user_reports, GET, "/_synapse/admin/v1/user_reports"
);
