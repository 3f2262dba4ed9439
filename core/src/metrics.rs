//! Per-server metrics in Prometheus text format. Each server owns its own registry (no global
//! recorder), so several servers in one test process never mix their numbers.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    sync::{
        Mutex,
        atomic::{AtomicI64, AtomicU64, Ordering},
    },
};

const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 30.0,
];

#[derive(Default)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Registry {
    /// (method, route, status) → count.
    requests: BTreeMap<(String, String, u16), u64>,
    /// (method, route) → latency histogram.
    latencies: BTreeMap<(String, String), Histogram>,
}

#[derive(Default)]
pub struct Metrics {
    registry: Mutex<Registry>,
    /// Counters the federation crate keeps.
    pub federation: FederationCounters,
    /// Push gateway deliveries.
    pub push: PushCounters,
    /// The client listener's connections and requests.
    pub listener: ListenerCounters,
    /// Every stream follower's position, lag and retries.
    pub followers: std::sync::Arc<crate::follow::FollowerRegistry>,
}

/// What the client listener holds and has refused.
#[derive(Default)]
pub struct ListenerCounters {
    pub connections_open: AtomicI64,
    /// Idle connections closed to make room for new ones at the connection cap.
    pub connections_evicted: AtomicU64,
    /// Connections refused at the cap because none was idle.
    pub connections_refused: AtomicU64,
    /// Requests whose response has not been sent yet; a client that goes away ends its own.
    pub requests_in_flight: AtomicI64,
}

/// Requests to push gateways, by result.
#[derive(Default)]
pub struct PushCounters {
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
}

/// The EDU types counted apart in `myelin_federation_edus_received_total`.
pub const EDU_TYPES: [&str; 6] = [
    "m.typing",
    "m.receipt",
    "m.presence",
    "m.device_list_update",
    "m.signing_key_update",
    "m.direct_to_device",
];

impl FederationCounters {
    /// Counts one received EDU of `edu_type`.
    pub fn edu_received(&self, edu_type: &str) {
        let index = EDU_TYPES
            .iter()
            .position(|known| *known == edu_type)
            .unwrap_or(EDU_TYPES.len());
        self.edus_received[index].fetch_add(1, Ordering::Relaxed);
    }
}

/// Federation traffic, counted where it happens.
#[derive(Default)]
pub struct FederationCounters {
    pub pdus_accepted: AtomicU64,
    /// PDUs this server already had (a sender resending, or an event that came two ways).
    pub pdus_known: AtomicU64,
    pub pdus_soft_failed: AtomicU64,
    pub pdus_refused: AtomicU64,
    /// EDUs received, by type ([`EDU_TYPES`], then everything else).
    pub edus_received: [AtomicU64; EDU_TYPES.len() + 1],
    pub transactions_sent: AtomicU64,
    pub transactions_failed: AtomicU64,
    /// PDUs and EDUs waiting in the durable outbound queues.
    pub queue_depth: AtomicI64,
    /// Destinations waiting out a backoff after a failed transaction.
    pub destinations_backing_off: AtomicI64,
    /// Transactions a destination took after failures: its queue catching up.
    pub catch_up_transactions: AtomicU64,
}

/// Numbers gathered elsewhere and printed alongside.
pub struct Gauges {
    pub store_flushes: u64,
    pub store_batches: u64,
}

impl Metrics {
    /// Counts one finished HTTP request. `route` is the matched route template, never the raw
    /// path, so the label set stays bounded.
    pub fn record_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let Ok(mut registry) = self.registry.lock() else {
            return;
        };
        *registry
            .requests
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
        let histogram = registry
            .latencies
            .entry((method.to_owned(), route.to_owned()))
            .or_default();
        for (bucket, bound) in histogram.buckets.iter_mut().zip(LATENCY_BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        histogram.count += 1;
        histogram.sum += seconds;
    }

    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::new();
        let Ok(registry) = self.registry.lock() else {
            return out;
        };
        out.push_str(
            "# HELP myelin_http_requests_total HTTP requests by method, route and status.\n",
        );
        out.push_str("# TYPE myelin_http_requests_total counter\n");
        for ((method, route, status), count) in &registry.requests {
            let _ = writeln!(
                out,
                "myelin_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {count}"
            );
        }
        out.push_str("# HELP myelin_http_request_duration_seconds HTTP request latency.\n");
        out.push_str("# TYPE myelin_http_request_duration_seconds histogram\n");
        for ((method, route), histogram) in &registry.latencies {
            let labels = format!("method=\"{method}\",route=\"{route}\"");
            for (bound, count) in LATENCY_BUCKETS.iter().zip(histogram.buckets) {
                let _ = writeln!(
                    out,
                    "myelin_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "myelin_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                histogram.count
            );
            let _ = writeln!(
                out,
                "myelin_http_request_duration_seconds_sum{{{labels}}} {}",
                histogram.sum
            );
            let _ = writeln!(
                out,
                "myelin_http_request_duration_seconds_count{{{labels}}} {}",
                histogram.count
            );
        }
        out.push_str(
            "# HELP myelin_store_flushes_total Durable store flushes (one per group commit).\n",
        );
        out.push_str("# TYPE myelin_store_flushes_total counter\n");
        let _ = writeln!(out, "myelin_store_flushes_total {}", gauges.store_flushes);
        out.push_str("# HELP myelin_store_batches_total Write batches committed.\n");
        out.push_str("# TYPE myelin_store_batches_total counter\n");
        let _ = writeln!(out, "myelin_store_batches_total {}", gauges.store_batches);
        let federation = &self.federation;
        out.push_str("# HELP myelin_federation_pdus_received_total Inbound PDUs by outcome.\n");
        out.push_str("# TYPE myelin_federation_pdus_received_total counter\n");
        for (outcome, counter) in [
            ("accepted", &federation.pdus_accepted),
            ("already_known", &federation.pdus_known),
            ("soft_failed", &federation.pdus_soft_failed),
            ("refused", &federation.pdus_refused),
        ] {
            let _ = writeln!(
                out,
                "myelin_federation_pdus_received_total{{outcome=\"{outcome}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP myelin_federation_edus_received_total Inbound EDUs by type.\n");
        out.push_str("# TYPE myelin_federation_edus_received_total counter\n");
        for (index, counter) in federation.edus_received.iter().enumerate() {
            let _ = writeln!(
                out,
                "myelin_federation_edus_received_total{{type=\"{}\"}} {}",
                EDU_TYPES.get(index).copied().unwrap_or("other"),
                counter.load(Ordering::Relaxed)
            );
        }
        out.push_str(
            "# HELP myelin_federation_transactions_sent_total Outbound transactions by result.\n",
        );
        out.push_str("# TYPE myelin_federation_transactions_sent_total counter\n");
        for (result, counter) in [
            ("ok", &federation.transactions_sent),
            ("failed", &federation.transactions_failed),
        ] {
            let _ = writeln!(
                out,
                "myelin_federation_transactions_sent_total{{result=\"{result}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        let listener = &self.listener;
        for (name, kind, help, value) in [
            (
                "myelin_client_connections_open",
                "gauge",
                "Open connections on the client listener.",
                listener.connections_open.load(Ordering::Relaxed).max(0),
            ),
            (
                "myelin_client_requests_in_flight",
                "gauge",
                "Client requests being served.",
                listener.requests_in_flight.load(Ordering::Relaxed).max(0),
            ),
            (
                "myelin_client_connections_evicted_total",
                "counter",
                "Idle connections closed to make room at the connection cap.",
                i64::try_from(listener.connections_evicted.load(Ordering::Relaxed))
                    .unwrap_or(i64::MAX),
            ),
            (
                "myelin_client_connections_refused_total",
                "counter",
                "Connections refused at the cap because none was idle.",
                i64::try_from(listener.connections_refused.load(Ordering::Relaxed))
                    .unwrap_or(i64::MAX),
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "{name} {value}");
        }
        out.push_str(
            "# HELP myelin_federation_queue_depth PDUs and EDUs waiting for other servers.\n",
        );
        out.push_str("# TYPE myelin_federation_queue_depth gauge\n");
        let _ = writeln!(
            out,
            "myelin_federation_queue_depth {}",
            federation.queue_depth.load(Ordering::Relaxed).max(0)
        );
        for (name, kind, help, value) in [
            (
                "myelin_federation_destinations_backing_off",
                "gauge",
                "Destinations waiting out a backoff after a failed transaction.",
                federation
                    .destinations_backing_off
                    .load(Ordering::Relaxed)
                    .max(0),
            ),
            (
                "myelin_federation_catch_up_transactions_total",
                "counter",
                "Transactions a destination took after failures (its queue catching up).",
                i64::try_from(federation.catch_up_transactions.load(Ordering::Relaxed))
                    .unwrap_or(i64::MAX),
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "{name} {value}");
        }
        let followers = self.followers.snapshot();
        for (name, kind, help, value) in [
            (
                "myelin_follower_position",
                "gauge",
                "The stream position each follower is done with.",
                (|stats: &crate::follow::FollowerStats| stats.position) as fn(&_) -> u64,
            ),
            (
                "myelin_follower_lag",
                "gauge",
                "Stream items a follower was behind when it last read.",
                |stats| stats.lag,
            ),
            (
                "myelin_follower_items_total",
                "counter",
                "Stream items handed to each follower.",
                |stats| stats.items,
            ),
            (
                "myelin_follower_retries_total",
                "counter",
                "Failed follower steps, retried after a backoff.",
                |stats| stats.retries,
            ),
            (
                "myelin_follower_backing_off",
                "gauge",
                "1 while a follower waits to retry.",
                |stats| u64::from(stats.backing_off),
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (follower, stats) in &followers {
                let _ = writeln!(out, "{name}{{follower=\"{follower}\"}} {}", value(stats));
            }
        }
        out.push_str("# HELP myelin_push_requests_total Requests to push gateways by result.\n");
        out.push_str("# TYPE myelin_push_requests_total counter\n");
        for (result, counter) in [("ok", &self.push.delivered), ("failed", &self.push.failed)] {
            let _ = writeln!(
                out,
                "myelin_push_requests_total{{result=\"{result}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_cumulative_buckets() {
        let metrics = Metrics::default();
        metrics.record_request("GET", "/health", 200, 0.002);
        metrics.record_request("GET", "/health", 200, 0.2);
        let text = metrics.render(&Gauges {
            store_flushes: 3,
            store_batches: 7,
        });
        assert!(text.contains(
            "myelin_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} 2"
        ));
        assert!(text.contains("le=\"0.005\"} 1"));
        assert!(text.contains("le=\"0.25\"} 2"));
        assert!(text.contains("myelin_store_flushes_total 3"));
    }
}
