//! `myelin-client-api`: the Matrix client-server API over HTTP. Handlers are thin: decode with
//! [`Ruma`], make one call into `myelin-core`, encode. Errors become Matrix JSON in `error.rs`.
#![forbid(unsafe_code)]

mod account;
mod account_data;
mod admin;
mod admin_tasks;
mod appservice;
mod backup;
mod delayed;
mod device;
mod directory;
mod discovery;
mod ephemeral;
mod error;
mod extract;
mod filter;
mod filtering;
mod keys;
mod media;
mod membership;
mod message;
mod ops;
mod presence;
mod profile;
mod push;
mod pushers;
pub mod rate_limit;
mod relations;
mod room;
mod routes;
mod routing;
mod search;
mod session;
mod state;
mod synapse_admin;
mod sync;
mod thirdparty;
mod to_device;
mod voip;

use std::{sync::Arc, time::Instant};

use axum::{
    Router,
    extract::{MatchedPath, Request, State},
    http::{HeaderName, Method, header},
    middleware::{self, Next},
    response::{IntoResponse as _, Response},
    routing::get,
};
use myelin_core::Services;
use tower_http::{
    cors::{AllowOrigin, Any, CorsLayer},
    trace::TraceLayer,
};

use crate::rate_limit::RateLimits;
pub use crate::{
    error::ApiError,
    extract::{Ruma, RumaResponse, parse_json_body},
};

/// What every handler receives.
#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub limits: Arc<RateLimits>,
    /// Simplified sliding sync connections (in memory).
    pub(crate) sliding: Arc<sync::sliding::Connections>,
    /// Member events each device already has through lazy-loading `/sync`.
    pub(crate) lazy_sent: Arc<sync::lazy::SentMembers>,
    /// Nonces of Synapse's shared-secret registration, with when each was handed out.
    pub(crate) admin_nonces:
        Arc<std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>>,
    /// Reports of room deletions for `delete_status` (room, report), since the start.
    pub(crate) admin_deletions: Arc<std::sync::Mutex<Vec<(ruma::OwnedRoomId, serde_json::Value)>>>,
    /// The administrator's finished tasks (shutdowns, purges, redactions), since the start.
    pub(crate) admin_tasks: Arc<std::sync::Mutex<Vec<admin_tasks::Task>>>,
}

impl AppState {
    pub fn new(services: Services) -> Self {
        let limits = Arc::new(RateLimits::new(&services.config.rate_limits));
        Self {
            services,
            limits,
            sliding: Arc::default(),
            lazy_sent: Arc::default(),
            admin_nonces: Arc::default(),
            admin_deletions: Arc::default(),
            admin_tasks: Arc::default(),
        }
    }

    /// What Synapse answers a shadow-banned user's event with: a made-up event id (nothing is
    /// sent), or `None` for everyone else.
    pub(crate) fn shadow_banned_event(
        &self,
        identity: &myelin_core::users::Identity,
    ) -> Option<ruma::OwnedEventId> {
        self.services
            .users
            .is_shadow_banned(&identity.user_id)
            .then(|| {
                ruma::EventId::parse(format!("${}", myelin_core::ids::random_string(43)))
                    .expect("a random alphanumeric string makes an event id")
            })
    }

    /// The per-user message limit; appservices registered with `rate_limited: false` (and
    /// the users they act as) are not limited.
    pub(crate) fn check_message_rate(
        &self,
        identity: &myelin_core::users::Identity,
    ) -> Result<(), ApiError> {
        let unlimited = identity
            .appservice_id
            .as_deref()
            .and_then(|id| self.services.appservices.by_id(id))
            .is_some_and(|appservice| !appservice.rate_limited());
        if !unlimited {
            let own = self
                .services
                .users
                .restrictions(&identity.user_id)
                .message_rate;
            self.limits.check_message(&identity.user_id, own)?;
        }
        Ok(())
    }
}

/// The client-server API router, ready to serve.
pub fn router(state: AppState) -> Router {
    let router = routes::endpoints();
    let cors = cors_layer(&state.services.config.client.cors_allowed_origins);
    router
        .route("/health", get(ops::health))
        .route("/_myelin/metrics", get(ops::metrics))
        .fallback(error::unknown_endpoint)
        .method_not_allowed_fallback(error::wrong_method)
        .layer(middleware::from_fn_with_state(state.clone(), limit_request))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            record_request,
        ))
        .layer(cors)
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// CORS as the spec asks, so browser clients (Element Web) can talk to the server.
fn cors_layer(origins: &[String]) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("x-requested-with"),
        ]);
    if origins.iter().any(|origin| origin == "*") {
        layer.allow_origin(Any)
    } else {
        let allowed: Vec<_> = origins
            .iter()
            .filter_map(|origin| origin.parse().ok())
            .collect();
        layer.allow_origin(AllowOrigin::list(allowed))
    }
}

/// Refuses a body whose declared length is over the limit before reading any of it (uploads
/// have the media limit, everything else `max_request_bytes`), and ends any request still
/// running at the deadline: its work is dropped and the client gets an error.
async fn limit_request(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let config = &state.services.config;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    let path = request.uri().path();
    let limit = if path.starts_with("/_matrix/media/") && path.contains("/upload") {
        state.services.media.max_upload_bytes()
    } else {
        u64::try_from(config.client.max_request_bytes).unwrap_or(u64::MAX)
    };
    if declared.is_some_and(|length| length > limit) {
        let mut response = ApiError::Core(myelin_core::Error::TooLarge(format!(
            "Request body is larger than {limit} bytes"
        )))
        .into_response();
        // The body will not be read: the connection cannot carry another request.
        response.headers_mut().insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
        return response;
    }
    let deadline = std::time::Duration::from_secs(config.client.request_timeout_secs.max(1));
    match tokio::time::timeout(deadline, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(?deadline, "request cut off at its deadline");
            ApiError::http(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "M_UNKNOWN",
                "The request took too long and was stopped",
            )
            .into_response()
        }
    }
}

/// Counts every request by route template and status, with its latency.
async fn record_request(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    state.services.metrics.record_request(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}
