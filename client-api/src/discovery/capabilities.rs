//! `GET /_matrix/client/v3/capabilities`

use axum::Json;
use ruma::api::client::discovery::get_capabilities::v3::Request;
use serde_json::{Value as JsonValue, json};

use crate::Ruma;

/// # `GET /_matrix/client/v3/capabilities`
pub async fn get_capabilities(_request: Ruma<Request>) -> Json<JsonValue> {
    Json(json!({
        "capabilities": {
            "m.change_password": { "enabled": true },
            "m.set_displayname": { "enabled": true },
            "m.set_avatar_url": { "enabled": true },
            "m.3pid_changes": { "enabled": false },
            "m.get_login_token": { "enabled": true },
            "m.profile_fields": { "enabled": true },
            // Rooms arrive with the rooms issue; these are the versions it implements.
            "m.room_versions": {
                "default": "12",
                "available": { "10": "stable", "11": "stable", "12": "stable" }
            }
        }
    }))
}
