#!/usr/bin/env bash
# Myelin and Synapse side by side on this machine, in one run: installs Synapse from PyPI into
# .venv-synapse, starts it (SQLite, rate limits lifted) and a release build of Myelin on loopback,
# runs every myelin-bench scenario against each, stops both, and writes bench/results/ (JSON for
# both, a comparison table and an SVG chart). Takes 10-20 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$(mktemp -d /tmp/myelin-vs-synapse.XXXXXX)
RESULTS=$ROOT/bench/results
mkdir -p "$RESULTS"
MYELIN_PORT=${MYELIN_PORT:-18301}
SYNAPSE_PORT=${SYNAPSE_PORT:-18302}

cargo build --release --bin myelin
cargo build --release -p myelin-bench
if [ ! -x .venv-synapse/bin/python ] || ! .venv-synapse/bin/python -c 'import synapse' 2>/dev/null; then
    python3 -m venv .venv-synapse
    .venv-synapse/bin/pip install --quiet matrix-synapse
fi

wait_for() { # url
    for _ in $(seq 1 120); do curl -sf "$1" >/dev/null && return 0; sleep 0.5; done
    echo "no answer from $1" >&2; return 1
}
cleanup() { kill "${MYELIN_PID:-}" "${SYNAPSE_PID:-}" 2>/dev/null || true; }
trap cleanup EXIT

# --- Myelin ---
mkdir -p "$WORK/myelin"
(cd "$WORK/myelin" && MYELIN_REGISTRATION__OPEN=true MYELIN_RATE_LIMITS__ENABLED=false \
    MYELIN_CLIENT__BIND=127.0.0.1:$MYELIN_PORT MYELIN_FEDERATION__ENABLED=false MYELIN_LOG=warn \
    exec "$ROOT/target/release/myelin" > myelin.log 2>&1) &
MYELIN_PID=$!
wait_for "http://127.0.0.1:$MYELIN_PORT/_matrix/client/versions"
target/release/myelin-bench --server "http://127.0.0.1:$MYELIN_PORT" all --pid "$MYELIN_PID" \
    --data-dir "$WORK/myelin/myelin-data" --out "$RESULTS/myelin.json" > /dev/null
kill "$MYELIN_PID"; wait "$MYELIN_PID" 2>/dev/null || true; MYELIN_PID=

# --- Synapse ---
mkdir -p "$WORK/synapse"
sed -e "s|@DIR@|$WORK/synapse|g" -e "s|@PORT@|$SYNAPSE_PORT|g" bench/synapse/homeserver.yaml.template > "$WORK/synapse/homeserver.yaml"
sed -e "s|filename: synapse.log|filename: $WORK/synapse/synapse.log|" bench/synapse/log.yaml > "$WORK/synapse/log.yaml"
(cd "$WORK/synapse" && "$ROOT/.venv-synapse/bin/python" -m synapse.app.homeserver -c homeserver.yaml --generate-keys > /dev/null)
(cd "$WORK/synapse" && exec "$ROOT/.venv-synapse/bin/python" -m synapse.app.homeserver -c homeserver.yaml > stdout.log 2>&1) &
SYNAPSE_PID=$!
wait_for "http://127.0.0.1:$SYNAPSE_PORT/_matrix/client/versions"
target/release/myelin-bench --server "http://127.0.0.1:$SYNAPSE_PORT" all --pid "$SYNAPSE_PID" \
    --data-dir "$WORK/synapse" --out "$RESULTS/synapse.json" > /dev/null
kill "$SYNAPSE_PID"; wait "$SYNAPSE_PID" 2>/dev/null || true; SYNAPSE_PID=

SYNAPSE_VERSION=$(.venv-synapse/bin/python -c 'import synapse; print(synapse.__version__)')
MYELIN_VERSION=$(target/release/myelin --version | awk '{print $2}')
{
    echo "Run on $(date -u +%Y-%m-%d), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB RAM; Myelin $MYELIN_VERSION, Synapse $SYNAPSE_VERSION (SQLite)."
    echo
    target/release/myelin-bench compare --a "$RESULTS/myelin.json" --b "$RESULTS/synapse.json" --svg "$RESULTS/chart.svg"
} > "$RESULTS/table.md"
cat "$RESULTS/table.md"
