#!/usr/bin/env bash
# The `flood` benchmark against a release Myelin and against Synapse from PyPI, one after the
# other on loopback: USERS users (default 20) in one room long-poll /sync while one sends every
# 100 ms (open loop), for PHASE_SECONDS (default 15) idle, then, after a 3 s gap, as long again
# while one address fires RATE (default 1000) login and registration attempts a second. Both
# servers run with their default login and registration rate limits (Synapse: its defaults for
# rc_login, rc_registration and bcrypt_rounds; Myelin: rate_limits at defaults) and the message
# limit lifted so the sender is not throttled. Setup registers the users at the pace the
# registration limit allows, about 6 s a user on each server. Writes
# bench/results/flood-<date>.json and prints a summary table (also in flood-<date>.md). Takes
# 10-20 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$(mktemp -d /tmp/myelin-flood.XXXXXX)
RESULTS=$ROOT/bench/results
mkdir -p "$RESULTS"
USERS=${USERS:-20}
PHASE_SECONDS=${PHASE_SECONDS:-15}
RATE=${RATE:-1000}
MYELIN_PORT=${MYELIN_PORT:-18341}
SYNAPSE_PORT=${SYNAPSE_PORT:-18342}
OUT=${OUT:-$RESULTS/flood-$(date -u +%Y-%m-%d).json}

. scripts/bench-common.sh
# Builds share the machine with the servers under test: build at a lower priority first.
nice -n 10 cargo build --release --bin myelin
nice -n 10 cargo build --release -p myelin-bench
build_and_install
cleanup() { kill "${MYELIN_PID:-}" "${SYNAPSE_PID:-}" 2>/dev/null || true; }
trap cleanup EXIT

start_myelin_limited() { # port; sets MYELIN_PID. Like start_myelin, with the rate limits on.
    mkdir -p "$WORK/myelin"
    (cd "$WORK/myelin" && MYELIN_REGISTRATION__OPEN=true MYELIN_RATE_LIMITS__ENABLED=true \
        MYELIN_RATE_LIMITS__MESSAGES_PER_USER__PER_SECOND=100000 \
        MYELIN_RATE_LIMITS__MESSAGES_PER_USER__BURST=100000 \
        MYELIN_CLIENT__BIND=127.0.0.1:$1 MYELIN_FEDERATION__ENABLED=false MYELIN_LOG=warn \
        exec "$ROOT/target/release/myelin" > myelin.log 2>&1) &
    MYELIN_PID=$!
    wait_for "http://127.0.0.1:$1/_matrix/client/versions"
}

start_synapse_limited() { # port; sets SYNAPSE_PID. Like start_synapse, with default rc_login,
    # rc_registration and bcrypt_rounds (the benchmark template lifts them).
    mkdir -p "$WORK/synapse"
    sed -e '/^rc_registration:/d' -e '/^rc_login:/,/^  failed_attempts:/d' -e '/^bcrypt_rounds:/d' \
        -e "s|@DIR@|$WORK/synapse|g" -e "s|@PORT@|$1|g" \
        "$ROOT/bench/synapse/homeserver.yaml.template" > "$WORK/synapse/homeserver.yaml"
    if grep -qE '^(rc_login|rc_registration|bcrypt_rounds)' "$WORK/synapse/homeserver.yaml"; then
        echo "could not lift the login/registration overrides from the Synapse template" >&2
        exit 1
    fi
    sed -e "s|filename: synapse.log|filename: $WORK/synapse/synapse.log|" "$ROOT/bench/synapse/log.yaml" > "$WORK/synapse/log.yaml"
    (cd "$WORK/synapse" && "$ROOT/.venv-synapse/bin/python" -m synapse.app.homeserver -c homeserver.yaml --generate-keys > /dev/null)
    (cd "$WORK/synapse" && exec "$ROOT/.venv-synapse/bin/python" -m synapse.app.homeserver -c homeserver.yaml > stdout.log 2>&1) &
    SYNAPSE_PID=$!
    wait_for "http://127.0.0.1:$1/_matrix/client/versions"
}

run_flood() { # port pid out
    target/release/myelin-bench --server "http://127.0.0.1:$1" flood --users "$USERS" \
        --seconds "$PHASE_SECONDS" --rate "$RATE" --pid "$2" > "$3"
}

echo "Myelin:" >&2
start_myelin_limited "$MYELIN_PORT"
run_flood "$MYELIN_PORT" "$MYELIN_PID" "$WORK/myelin.json"
MYELIN_RSS_KB=$(awk '/VmHWM/ {print $2}' "/proc/$MYELIN_PID/status")
stop "$MYELIN_PID"; MYELIN_PID=
MYELIN_LOG_ERRORS=$(grep -ciE 'error|panic' "$WORK/myelin/myelin.log" || true)

echo "Synapse:" >&2
start_synapse_limited "$SYNAPSE_PORT"
run_flood "$SYNAPSE_PORT" "$SYNAPSE_PID" "$WORK/synapse.json"
stop "$SYNAPSE_PID"; SYNAPSE_PID=

SYNAPSE_VERSION=$(cd "$WORK" && "$ROOT/.venv-synapse/bin/python" -c 'import synapse; print(synapse.__version__)' | sed 's/ (.*//')
MYELIN_VERSION=$(target/release/myelin --version | awk '{print $2}')
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
jq -n --slurpfile myelin "$WORK/myelin.json" --slurpfile synapse "$WORK/synapse.json" \
    --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg commit "${COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}" \
    --arg myelin_version "$MYELIN_VERSION" --arg synapse_version "$SYNAPSE_VERSION" \
    --arg machine "$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB RAM, load average $LOAD at the end" \
    --arg users "$USERS" --arg phase "$PHASE_SECONDS" --arg rate "$RATE" \
    --argjson myelin_log_errors "$MYELIN_LOG_ERRORS" --argjson myelin_peak_rss_kb "${MYELIN_RSS_KB:-0}" \
    '{date: $date, commit: $commit, machine: $machine,
      command: "USERS=\($users) PHASE_SECONDS=\($phase) RATE=\($rate) scripts/bench-flood.sh",
      note: "Indicative: one run on a shared machine (builds and a fuzzer use cores too). Client, flooder and server share the cores. Both servers at their default login/registration rate limits, message limit lifted.",
      myelin_version: $myelin_version, synapse_version: $synapse_version,
      myelin: ($myelin[0] + {log_error_lines: $myelin_log_errors, peak_rss_kb: $myelin_peak_rss_kb}),
      synapse: $synapse[0]}' > "$OUT"

# The summary: flood/idle per server, and Myelin against Synapse.
jq -r '
  def f: if . == null then "-" else (. * 10 | round / 10 | tostring) end;
  def x: if . == null then "-" else (. * 100 | round / 100 | tostring) + "x" end;
  def ratio($a; $b): if $a == null or $b == null or $b == 0 then null else $a / $b end;
  def row($name; $p): "| \($name) | \(.myelin | getpath($p) | f) | \(.synapse | getpath($p) | f) |";
  "Flood benchmark \(.date) (\(.machine)); Myelin \(.myelin_version), Synapse \(.synapse_version). \(.note)",
  "",
  "| metric | Myelin | Synapse |",
  "|---|---:|---:|",
  row("delivery p50 idle (ms)"; ["idle","delivery_ms","p50"]),
  row("delivery p50 flood (ms)"; ["flood","delivery_ms","p50"]),
  row("delivery p95 idle (ms)"; ["idle","delivery_ms","p95"]),
  row("delivery p95 flood (ms)"; ["flood","delivery_ms","p95"]),
  row("/sync request p50 idle (ms)"; ["idle","sync_request_ms","p50"]),
  row("/sync request p50 flood (ms)"; ["flood","sync_request_ms","p50"]),
  row("/sync request p95 idle (ms)"; ["idle","sync_request_ms","p95"]),
  row("/sync request p95 flood (ms)"; ["flood","sync_request_ms","p95"]),
  "| delivery p50 flood/idle | \(.myelin.ratio_flood_over_idle.delivery_p50 | x) | \(.synapse.ratio_flood_over_idle.delivery_p50 | x) |",
  "| delivery p95 flood/idle | \(.myelin.ratio_flood_over_idle.delivery_p95 | x) | \(.synapse.ratio_flood_over_idle.delivery_p95 | x) |",
  "| /sync p50 flood/idle | \(.myelin.ratio_flood_over_idle.sync_request_p50 | x) | \(.synapse.ratio_flood_over_idle.sync_request_p50 | x) |",
  "| /sync p95 flood/idle | \(.myelin.ratio_flood_over_idle.sync_request_p95 | x) | \(.synapse.ratio_flood_over_idle.sync_request_p95 | x) |",
  "| messages started/acknowledged idle | \(.myelin.idle.messages_started)/\(.myelin.idle.messages_sent) | \(.synapse.idle.messages_started)/\(.synapse.idle.messages_sent) |",
  "| messages started/acknowledged flood | \(.myelin.flood.messages_started)/\(.myelin.flood.messages_sent) | \(.synapse.flood.messages_started)/\(.synapse.flood.messages_sent) |",
  "| deliveries idle (of expected) | \(.myelin.idle.deliveries)/\(.myelin.idle.expected_deliveries) | \(.synapse.idle.deliveries)/\(.synapse.idle.expected_deliveries) |",
  "| deliveries flood (of expected) | \(.myelin.flood.deliveries)/\(.myelin.flood.expected_deliveries) | \(.synapse.flood.deliveries)/\(.synapse.flood.expected_deliveries) |",
  "| user request errors idle / flood (send, probe, long-poll) | \(.myelin.idle | [.send_errors, .probe_errors, .long_poll_errors] | add) / \(.myelin.flood | [.send_errors, .probe_errors, .long_poll_errors] | add) | \(.synapse.idle | [.send_errors, .probe_errors, .long_poll_errors] | add) / \(.synapse.flood | [.send_errors, .probe_errors, .long_poll_errors] | add) |",
  row("flood attempts sent"; ["flood","attempts","sent"]),
  row("flood achieved rate (/s)"; ["flood","attempts","achieved_rate"]),
  row("skipped (4,000 in flight)"; ["flood","attempts","skipped_in_flight_cap"]),
  row("answered 429 M_LIMIT_EXCEEDED"; ["flood","attempts","limit_exceeded_429"]),
  row("answered 403"; ["flood","attempts","forbidden_403"]),
  row("answered 401"; ["flood","attempts","unauthorized_401"]),
  row("answered 200"; ["flood","attempts","ok_200"]),
  row("answered 5xx"; ["flood","attempts","server_errors_5xx"]),
  row("other status"; ["flood","attempts","other_status"]),
  row("connection errors"; ["flood","attempts","connection_errors"]),
  row("timeouts (10 s)"; ["flood","attempts","timeouts"]),
  row("flood answer p50 (ms)"; ["flood","attempts","response_ms","p50"]),
  row("flood answer p99 (ms)"; ["flood","attempts","response_ms","p99"]),
  row("server CPU idle (s)"; ["idle","server_cpu_seconds"]),
  row("server CPU flood (s)"; ["flood","server_cpu_seconds"]),
  "",
  "Latencies count what had not arrived by the end (30 s after the flood) at the time waited, so a stalled server'"'"'s figures are lower bounds.",
  "Myelin over Synapse (flood phase): delivery p50 \(ratio(.synapse.flood.delivery_ms.p50; .myelin.flood.delivery_ms.p50) | x) better, p95 \(ratio(.synapse.flood.delivery_ms.p95; .myelin.flood.delivery_ms.p95) | x) better; /sync p50 \(ratio(.synapse.flood.sync_request_ms.p50; .myelin.flood.sync_request_ms.p50) | x) better."
' "$OUT" | tee "${OUT%.json}.md"
echo "Wrote $OUT and ${OUT%.json}.md" >&2
