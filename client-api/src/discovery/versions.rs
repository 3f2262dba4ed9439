//! `GET /_matrix/client/versions`

use axum::Json;
use serde_json::{Value as JsonValue, json};

/// Spec versions whose client-server features Myelin serves. Clients use this to pick endpoints.
///
/// Audited against the spec's changelogs up to v1.19 (README, "Spec versions"): v1.13 (room
/// reports, requestToken error codes, suspension errors, one-time key order), v1.14 (user
/// reports, room `initialSync` for peeking) and v1.15 (room summaries, the new hierarchy
/// fields; the OAuth 2.0 API is optional and not offered, `auth_metadata` answers 404) are
/// served. v1.16 needs `state_after` in sync (MSC4222), which is not served yet, so the list
/// stops at v1.15; later features Myelin has are advertised below under their own names.
pub const SUPPORTED_VERSIONS: &[&str] = &[
    "v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9", "v1.10", "v1.11",
    "v1.12", "v1.13", "v1.14", "v1.15",
];

/// # `GET /_matrix/client/versions`
pub async fn get_supported_versions(
    _request: crate::Ruma<ruma::api::client::discovery::get_supported_versions::Request>,
) -> Json<JsonValue> {
    // Features of spec versions newer than those claimed above, under the names clients look
    // for; each is served (a test probes every one, so none is claimed without its endpoint):
    // - `org.matrix.e2e_cross_signing`: what Element Web checks before it offers
    //   cross-signing and verification (Synapse has always advertised it);
    // - simplified sliding sync (MSC4186, what matrix-rust-sdk and Element X check);
    // - `state_after` in sync (1.16, MSC4222); relation-type filters on `/messages` (MSC3874);
    // - account data deletion (MSC3391); invite blocking (MSC4155, and MSC4380 of 1.18);
    // - delayed events (MSC4140, Element Call); thread subscriptions and their sliding sync
    //   extension (MSC4306, MSC4308);
    // - mutual rooms (1.19), account locking and suspension (1.18), room summaries (1.15).
    Json(json!({
        "versions": SUPPORTED_VERSIONS,
        "unstable_features": {
            "org.matrix.e2e_cross_signing": true,
            "org.matrix.msc3391": true,
            "org.matrix.msc3874": true,
            "org.matrix.msc4140": true,
            "org.matrix.msc4155": true,
            "org.matrix.msc4222": true,
            "org.matrix.msc4306": true,
            "org.matrix.msc4308": true,
            "org.matrix.msc4380": true,
            "org.matrix.simplified_msc3575": true,
            "uk.half-shot.msc2666.query_mutual_rooms.stable": true,
            "uk.timedout.msc4323": true,
            "im.nheko.summary": true,
        },
    }))
}
