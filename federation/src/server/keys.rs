//! Version and key endpoints: our key document, and notary answers for other servers' keys.

use axum::{Json, extract::State};
use ruma::api::federation::discovery::{
    get_remote_server_keys, get_remote_server_keys_batch, get_server_keys, get_server_version,
};
use serde_json::{Value as JsonValue, json};

use super::{FedResult, Unsigned};

/// How long other servers may cache our key document (Synapse publishes a day too).
const KEY_VALIDITY_MS: u64 = 24 * 60 * 60 * 1000;

/// # `GET /_matrix/federation/v1/version`
pub async fn version(_request: Unsigned<get_server_version::v1::Request>) -> Json<JsonValue> {
    Json(json!({ "server": { "name": "Myelin", "version": env!("CARGO_PKG_VERSION") } }))
}

/// # `GET /_matrix/key/v2/server`
pub async fn server_keys(
    State(state): State<super::State>,
    _request: Unsigned<get_server_keys::v2::Request>,
) -> FedResult<Json<JsonValue>> {
    Ok(Json(state.services.keys.key_document(
        state.services.rooms.server_name(),
        KEY_VALIDITY_MS,
    )?))
}

/// # `GET /_matrix/key/v2/query/{serverName}`
pub async fn query_keys(
    State(state): State<super::State>,
    Unsigned(request): Unsigned<get_remote_server_keys::v2::Request>,
) -> FedResult<Json<JsonValue>> {
    let minimum = u64::from(request.minimum_valid_until_ts.get());
    let documents: Vec<JsonValue> = state
        .keys
        .notary_document(&request.server_name, minimum)
        .await?
        .into_iter()
        .collect();
    Ok(Json(json!({ "server_keys": documents })))
}

/// # `POST /_matrix/key/v2/query`
pub async fn query_keys_batch(
    State(state): State<super::State>,
    Unsigned(request): Unsigned<get_remote_server_keys_batch::v2::Request>,
) -> FedResult<Json<JsonValue>> {
    let mut documents = Vec::new();
    // A notary answers for a bounded number of servers per request.
    for (server, criteria) in request.server_keys.iter().take(100) {
        let minimum = criteria
            .values()
            .filter_map(|criteria| criteria.minimum_valid_until_ts)
            .map(|ts| u64::from(ts.get()))
            .max()
            .unwrap_or(0);
        match state.keys.notary_document(server, minimum).await {
            Ok(Some(document)) => documents.push(document),
            Ok(None) => {}
            Err(error) => tracing::debug!(%server, %error, "no keys to serve as notary"),
        }
    }
    Ok(Json(json!({ "server_keys": documents })))
}
