//! `GET /_matrix/client/v3/capabilities`

use axum::{Json, extract::State};
use myelin_core::rooms::SUPPORTED_ROOM_VERSIONS;
use ruma::api::client::discovery::get_capabilities::v3::Request;
use serde_json::{Map, Value as JsonValue, json};

use crate::{AppState, Ruma};

/// # `GET /_matrix/client/v3/capabilities`
pub async fn get_capabilities(
    State(state): State<AppState>,
    _request: Ruma<Request>,
) -> Json<JsonValue> {
    // Every version this server creates and joins is stable (ruma's rules for each).
    let available: Map<String, JsonValue> = SUPPORTED_ROOM_VERSIONS
        .iter()
        .map(|version| (version.to_string(), "stable".into()))
        .collect();
    Json(json!({
        "capabilities": {
            "m.change_password": { "enabled": true },
            "m.set_displayname": { "enabled": true },
            "m.set_avatar_url": { "enabled": true },
            "m.3pid_changes": { "enabled": false },
            "m.get_login_token": { "enabled": true },
            "m.profile_fields": { "enabled": true },
            // Invite permission configs are enforced here, not left to clients (MSC4155).
            "m.invite_permission_config_enforced": { "enabled": true },
            "org.matrix.msc4155.invite_permission_config_enforced": { "enabled": true },
            "m.room_versions": {
                "default": state.services.rooms.default_room_version().as_str(),
                "available": available,
            }
        }
    }))
}
