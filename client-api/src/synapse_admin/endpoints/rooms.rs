//! Synapse admin endpoints: the rooms family (see `endpoints`).

endpoint!(
    /// `GET /_synapse/admin/v1/rooms/{roomId}/state`
    room_state, GET, "/_synapse/admin/v1/rooms/{room_id}/state",
    room_id: ruma::OwnedRoomId
);

endpoint!(
    /// `GET /_synapse/admin/v1/rooms/{roomId}/block`
    get_room_block, GET, "/_synapse/admin/v1/rooms/{room_id}/block",
    room_id: ruma::OwnedRoomId
);

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

endpoint!(
    /// `GET /_synapse/admin/v2/rooms/{roomId}/delete_status`
    room_delete_status, GET, "/_synapse/admin/v2/rooms/{room_id}/delete_status",
    room_id: ruma::OwnedRoomId
);

endpoint!(
    /// `GET /_synapse/admin/v2/rooms/delete_status/{deleteId}`
    delete_status, GET, "/_synapse/admin/v2/rooms/delete_status/{delete_id}",
    delete_id: String
);

endpoint!(
    /// `GET /_synapse/admin/v1/rooms/{room_id}/forward_extremities`: A room's forward extremities.
    forward_extremities, GET, "/_synapse/admin/v1/rooms/{room_id}/forward_extremities",
    room_id: ruma::OwnedRoomId
);

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

endpoint!(
    /// `GET /_synapse/admin/v1/purge_history_status/{purgeId}`
    purge_history_status, GET, "/_synapse/admin/v1/purge_history_status/{purge_id}",
    purge_id: String
);

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

endpoint!(
    /// `DELETE /_synapse/admin/v1/rooms/{roomId}/forward_extremities`
    delete_forward_extremities, DELETE, "/_synapse/admin/v1/rooms/{room_id}/forward_extremities",
    room_id: ruma::OwnedRoomId
);

endpoint!(
    /// `GET /_synapse/admin/v1/rooms/{roomId}/timestamp_to_event?ts=…&dir=…`
    room_timestamp_to_event, GET, "/_synapse/admin/v1/rooms/{room_id}/timestamp_to_event",
    room_id: ruma::OwnedRoomId
);

endpoint!(
    /// `GET /_synapse/admin/v1/fetch_event/{eventId}`
    fetch_event, GET, "/_synapse/admin/v1/fetch_event/{event_id}",
    event_id: ruma::OwnedEventId
);

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
