//! Synapse admin endpoints: the media family (see `endpoints`).

endpoint!(
    /// `GET /_synapse/admin/v1/media/{server_name}/{media_id}`: What is known of one piece of media.
    media_info, GET, "/_synapse/admin/v1/media/{server_name}/{media_id}",
    server_name: ruma::OwnedServerName,
    media_id: String
);

endpoint!(
    /// `DELETE /_synapse/admin/v1/media/{server_name}/{media_id}`: Deletes local media.
    delete_media, DELETE, "/_synapse/admin/v1/media/{server_name}/{media_id}",
    server_name: ruma::OwnedServerName,
    media_id: String
);

endpoint!(
    /// `POST /_synapse/admin/v1/media/delete`: Deletes local media by date and size (query string).
    delete_media_before, POST, "/_synapse/admin/v1/media/delete"
);

endpoint!(
    /// `POST /_synapse/admin/v1/purge_media_cache`: Deletes cached remote media by date (query string).
    purge_media_cache, POST, "/_synapse/admin/v1/purge_media_cache"
);

endpoint!(
    /// `GET /_synapse/admin/v1/users/{user_id}/media`: A user's uploads (paging from the query string).
    user_media, GET, "/_synapse/admin/v1/users/{user_id}/media",
    user_id: ruma::OwnedUserId
);

endpoint!(
    /// `DELETE /_synapse/admin/v1/users/{user_id}/media`: Deletes a user's uploads.
    delete_user_media, DELETE, "/_synapse/admin/v1/users/{user_id}/media",
    user_id: ruma::OwnedUserId
);

endpoint!(
    /// `POST /_synapse/admin/v1/media/quarantine/{server_name}/{media_id}`: Quarantines media.
    quarantine_media, POST, "/_synapse/admin/v1/media/quarantine/{server_name}/{media_id}",
    server_name: ruma::OwnedServerName,
    media_id: String
);

endpoint!(
    /// `POST /_synapse/admin/v1/media/unquarantine/{server_name}/{media_id}`: Lifts a quarantine.
    unquarantine_media, POST, "/_synapse/admin/v1/media/unquarantine/{server_name}/{media_id}",
    server_name: ruma::OwnedServerName,
    media_id: String
);

endpoint!(
    /// `POST /_synapse/admin/v1/media/protect/{media_id}`: Protects local media from quarantine.
    protect_media, POST, "/_synapse/admin/v1/media/protect/{media_id}",
    media_id: String
);

endpoint!(
    /// `POST /_synapse/admin/v1/media/unprotect/{media_id}`: Lifts the protection.
    unprotect_media, POST, "/_synapse/admin/v1/media/unprotect/{media_id}",
    media_id: String
);

endpoint!(
    /// `GET /_synapse/admin/v1/statistics/users/media`: Media uploaded per user (paging from the query string).
    media_statistics, GET, "/_synapse/admin/v1/statistics/users/media"
);

endpoint!(
    /// `POST /_synapse/admin/v1/user/{user_id}/media/quarantine`: Quarantines every upload of a user.
    quarantine_user_media, POST, "/_synapse/admin/v1/user/{user_id}/media/quarantine",
    user_id: ruma::OwnedUserId
);

endpoint!(
    /// `GET /_synapse/admin/v1/room/{roomId}/media`
    room_media, GET, "/_synapse/admin/v1/room/{room_id}/media",
    room_id: ruma::OwnedRoomId
);

endpoint!(
    /// `POST /_synapse/admin/v1/room/{roomId}/media/quarantine`
    quarantine_room_media, POST, "/_synapse/admin/v1/room/{room_id}/media/quarantine",
    room_id: ruma::OwnedRoomId
);

endpoint!(
    /// `POST /_synapse/admin/v1/quarantine_media/{roomId}`, the older path of the same.
    quarantine_room_media_legacy, POST, "/_synapse/admin/v1/quarantine_media/{room_id}",
    room_id: ruma::OwnedRoomId
);

endpoint!(
    /// `POST /_synapse/admin/v1/media/{serverName}/delete`: the older path of `v1/media/delete`.
    delete_server_media_before, POST, "/_synapse/admin/v1/media/{server_name}/delete",
    server_name: ruma::OwnedServerName
);
