//! Operations endpoints of Myelin's own: health and metrics.

use std::sync::atomic::Ordering;

use axum::{extract::State, http::header, response::IntoResponse};
use myelin_core::metrics::Gauges;

use crate::AppState;

/// # `GET /health`
pub async fn health() -> &'static str {
    "OK"
}

/// # `GET /_myelin/metrics`
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let counters = state.services.store.counters();
    let gauges = Gauges {
        store_flushes: counters.flushes.load(Ordering::Relaxed),
        store_batches: counters.batches.load(Ordering::Relaxed),
    };
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.services.metrics.render(&gauges),
    )
}
