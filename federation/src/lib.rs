//! `myelin-federation`: the server-server API. So far it serves the federation listener's
//! version endpoint and the server's signing keys; signed requests, transactions and joins
//! arrive with the federation issue and plug into `myelin-core` through its ports.
#![forbid(unsafe_code)]

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use myelin_core::Services;
use ruma::api::{
    Metadata,
    federation::discovery::{get_server_keys, get_server_version},
    path_builder::PathBuilder as _,
};
use serde_json::{Value as JsonValue, json};

/// How long other servers may cache our key document (Synapse publishes a day too).
const KEY_VALIDITY_MS: u64 = 24 * 60 * 60 * 1000;

/// # `GET /_matrix/federation/v1/version`
async fn get_server_version() -> Json<JsonValue> {
    Json(json!({ "server": { "name": "Myelin", "version": env!("CARGO_PKG_VERSION") } }))
}

/// # `GET /_matrix/key/v2/server`
async fn get_server_keys(State(services): State<Services>) -> Response {
    match services
        .keys
        .key_document(services.rooms.server_name(), KEY_VALIDITY_MS)
    {
        Ok(document) => Json(document).into_response(),
        Err(error) => {
            tracing::error!(%error, "cannot produce the key document");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({ "errcode": "M_UNKNOWN", "error": "Internal server error" })),
            )
                .into_response()
        }
    }
}

fn paths<T: Metadata>() -> Vec<&'static str> {
    T::PATH_BUILDER.all_paths().collect()
}

/// The federation listener's router.
pub fn router(services: Services) -> Router {
    let mut router = Router::new();
    for path in paths::<get_server_version::v1::Request>() {
        router = router.route(path, get(get_server_version));
    }
    for path in paths::<get_server_keys::v2::Request>() {
        router = router.route(path, get(get_server_keys));
    }
    router.with_state(services)
}
