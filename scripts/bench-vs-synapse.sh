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

. scripts/bench-common.sh
build_and_install
cleanup() { kill "${MYELIN_PID:-}" "${SYNAPSE_PID:-}" 2>/dev/null || true; }
trap cleanup EXIT

# --- Myelin ---
start_myelin "$MYELIN_PORT"
target/release/myelin-bench --server "http://127.0.0.1:$MYELIN_PORT" all --pid "$MYELIN_PID" \
    --data-dir "$WORK/myelin/myelin-data" --out "$RESULTS/myelin.json" > /dev/null
stop "$MYELIN_PID"; MYELIN_PID=

# --- Synapse ---
start_synapse "$SYNAPSE_PORT"
target/release/myelin-bench --server "http://127.0.0.1:$SYNAPSE_PORT" all --pid "$SYNAPSE_PID" \
    --data-dir "$WORK/synapse" --out "$RESULTS/synapse.json" > /dev/null
stop "$SYNAPSE_PID"; SYNAPSE_PID=

SYNAPSE_VERSION=$(.venv-synapse/bin/python -c 'import synapse; print(synapse.__version__)')
MYELIN_VERSION=$(target/release/myelin --version | awk '{print $2}')
{
    echo "Run on $(date -u +%Y-%m-%d), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB RAM; Myelin $MYELIN_VERSION, Synapse $SYNAPSE_VERSION (SQLite)."
    echo
    target/release/myelin-bench compare --a "$RESULTS/myelin.json" --b "$RESULTS/synapse.json" --svg "$RESULTS/chart.svg"
} > "$RESULTS/table.md"
cat "$RESULTS/table.md"
