//! Third-party lookups, answered by the appservices (bridges) that registered the protocol:
//! protocols and their instances, and users and locations on the bridged networks.
pub mod get_location_for_protocol;
pub mod get_location_for_room_alias;
pub mod get_protocol;
pub mod get_protocols;
pub mod get_user_for_protocol;
pub mod get_user_for_user_id;

use std::collections::BTreeMap;

use myelin_core::Error;
use serde_json::{Map, Value as JsonValue};

use crate::{ApiError, AppState};

/// RFC 3986 unreserved characters stay; everything else is percent-encoded.
const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes a path segment or query value.
fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, COMPONENT).to_string()
}

fn query(fields: &BTreeMap<String, String>) -> String {
    fields
        .iter()
        .map(|(key, value)| format!("{}={}", encode(key), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Asks every appservice (those registering `protocol`, when given) and concatenates their
/// array answers; appservices that fail are skipped (Synapse does the same).
async fn ask_all(
    state: &AppState,
    protocol: Option<&str>,
    path_and_query: String,
) -> Result<Vec<JsonValue>, ApiError> {
    let queries = state
        .services
        .appservice_queries
        .get()
        .ok_or_else(|| Error::Internal("no appservice client".into()))?;
    let mut found = Vec::new();
    for appservice in state.services.appservices.all() {
        if let Some(protocol) = protocol
            && !appservice
                .registration
                .protocols
                .iter()
                .any(|p| p == protocol)
        {
            continue;
        }
        match queries
            .thirdparty(appservice.id(), path_and_query.clone())
            .await
        {
            Ok(JsonValue::Array(items)) => found.extend(items),
            Ok(_) => {}
            Err(error) => {
                tracing::debug!(%error, appservice = appservice.id(), "third-party lookup failed")
            }
        }
    }
    Ok(found)
}

/// The metadata of every protocol the appservices registered, instances merged.
async fn protocols(state: &AppState) -> Result<Map<String, JsonValue>, ApiError> {
    let queries = state
        .services
        .appservice_queries
        .get()
        .ok_or_else(|| Error::Internal("no appservice client".into()))?;
    let mut protocols: Map<String, JsonValue> = Map::new();
    for appservice in state.services.appservices.all() {
        for protocol in &appservice.registration.protocols {
            let Ok(mut metadata) = queries
                .thirdparty(appservice.id(), format!("protocol/{}", encode(protocol)))
                .await
            else {
                continue;
            };
            // Instances name the appservice that serves them, so lookups can go back to it.
            if let Some(instances) = metadata
                .get_mut("instances")
                .and_then(JsonValue::as_array_mut)
            {
                for instance in instances {
                    if instance.get("instance_id").is_none()
                        && let Some(network) = instance.get("network_id").cloned()
                    {
                        instance["instance_id"] = network;
                    }
                }
            }
            match protocols.get_mut(protocol) {
                Some(existing) => {
                    let more = metadata["instances"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    if let Some(instances) = existing["instances"].as_array_mut() {
                        instances.extend(more);
                    }
                }
                None => {
                    protocols.insert(protocol.clone(), metadata);
                }
            }
        }
    }
    Ok(protocols)
}
