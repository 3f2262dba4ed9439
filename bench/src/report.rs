//! The summary table, the comparison of two runs, and the SVG chart.

use std::fmt::Write as _;

use serde_json::Value;

/// One comparable figure of a suite run: label, where it is in the JSON, whether higher is better.
const METRICS: &[(&str, &str, bool)] = &[
    ("send: events/s", "/send/events_per_second", true),
    ("send: latency p99 (ms)", "/send/latency_ms/p99", false),
    ("fanout 100: p99 (ms)", "/fanout_100/delay_ms/p99", false),
    ("fanout 1000: p99 (ms)", "/fanout_1000/delay_ms/p99", false),
    (
        "initial sync 100 rooms (ms)",
        "/initial_sync_100/initial_ms",
        false,
    ),
    (
        "initial sync 500 rooms (ms)",
        "/initial_sync_500/initial_ms",
        false,
    ),
    (
        "empty incremental sync, 500 rooms (ms)",
        "/initial_sync_500/incremental_ms",
        false,
    ),
    ("join storm (s)", "/join_storm/seconds", false),
    ("idle memory (MB)", "/idle_memory/rss_mb", false),
    ("disk (bytes/event)", "/disk/bytes_per_event", false),
    ("server CPU (s)", "/process/cpu_seconds", false),
    ("server peak RSS (MB)", "/process/peak_rss_mb", false),
];

/// `(label, a, b, a-better-by)`: the factor is how many times better `a` is than `b`.
pub fn compare(a: &Value, b: &Value) -> Vec<(String, f64, f64, f64)> {
    METRICS
        .iter()
        .filter_map(|(label, pointer, higher_is_better)| {
            let (x, y) = (a.pointer(pointer)?.as_f64()?, b.pointer(pointer)?.as_f64()?);
            let factor = if *higher_is_better { x / y } else { y / x };
            Some(((*label).to_owned(), x, y, factor))
        })
        .collect()
}

pub fn table(rows: &[(String, f64, f64, f64)], a_name: &str, b_name: &str) -> String {
    let mut out =
        format!("| metric | {a_name} | {b_name} | {a_name} better by |\n|---|---:|---:|---:|\n");
    for (label, a, b, factor) in rows {
        let _ = writeln!(out, "| {label} | {a:.1} | {b:.1} | {factor:.1}x |");
    }
    out
}

/// A horizontal bar per metric: how many times better `a` is (log scale, 1x marked).
pub fn svg(rows: &[(String, f64, f64, f64)], a_name: &str, b_name: &str) -> String {
    let (label_width, bar_width, row_height) = (330.0, 420.0, 28.0);
    let height = 70.0 + row_height * rows.len() as f64;
    let max_log = rows
        .iter()
        .map(|(_, _, _, factor)| factor.max(1.0).log10())
        .fold(1.0_f64, f64::max);
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{height}" font-family="sans-serif" font-size="13">"#,
        label_width + bar_width + 90.0
    );
    let _ = write!(
        out,
        r#"<text x="10" y="24" font-size="16" font-weight="bold">{a_name} vs {b_name}: times better (log scale)</text>"#
    );
    for (index, (label, _, _, factor)) in rows.iter().enumerate() {
        let y = 50.0 + row_height * index as f64;
        let log = factor.max(0.01).log10();
        let width = (log.max(0.0) / max_log) * bar_width;
        let color = if *factor >= 1.0 { "#2e7d32" } else { "#c62828" };
        let _ = write!(out, r#"<text x="10" y="{}">{label}</text>"#, y + 15.0);
        let _ = write!(
            out,
            r#"<rect x="{label_width}" y="{y}" width="{:.1}" height="{}" fill="{color}"/>"#,
            width.max(2.0),
            row_height - 8.0
        );
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{}">{factor:.1}x</text>"#,
            label_width + width.max(2.0) + 6.0,
            y + 15.0
        );
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn comparison_orients_each_metric() {
        let fast =
            json!({ "send": { "events_per_second": 1000.0, "latency_ms": { "p99": 10.0 } } });
        let slow = json!({ "send": { "events_per_second": 100.0, "latency_ms": { "p99": 50.0 } } });
        let rows = compare(&fast, &slow);
        assert_eq!(
            rows.len(),
            2,
            "metrics missing from either side are skipped"
        );
        assert!(
            (rows[0].3 - 10.0).abs() < 1e-9,
            "throughput: higher is better"
        );
        assert!((rows[1].3 - 5.0).abs() < 1e-9, "latency: lower is better");
        let chart = svg(&rows, "A", "B");
        assert!(chart.starts_with("<svg") && chart.contains("10.0x") && chart.contains("5.0x"));
        assert!(table(&rows, "A", "B").contains("| send: events/s | 1000.0 | 100.0 | 10.0x |"));
    }
}
