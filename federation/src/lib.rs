//! `myelin-federation`: the server-server API. So far it serves the federation listener's
//! version endpoint; signed requests, keys, transactions and joins arrive with the federation
//! issue and plug into `myelin-core` through its ports.
#![forbid(unsafe_code)]

use axum::{Json, Router, routing::get};
use ruma::api::{
    Metadata as _, federation::discovery::get_server_version, path_builder::PathBuilder as _,
};
use serde_json::{Value as JsonValue, json};

/// # `GET /_matrix/federation/v1/version`
async fn get_server_version() -> Json<JsonValue> {
    Json(json!({ "server": { "name": "Myelin", "version": env!("CARGO_PKG_VERSION") } }))
}

/// The federation listener's router.
pub fn router() -> Router {
    let mut router = Router::new();
    for path in get_server_version::v1::Request::PATH_BUILDER.all_paths() {
        router = router.route(path, get(get_server_version));
    }
    router
}
