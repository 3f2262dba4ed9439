#!/usr/bin/env bash
# The `sliding-sync` scenario (an Element X room list in R rooms over simplified sliding sync,
# with /sync's initial sync as the in-run baseline) against a release Myelin and against Synapse
# from PyPI, one after the other on loopback. Prints both JSON results. ROOMS (default 500).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$(mktemp -d /tmp/myelin-sliding.XXXXXX)
ROOMS=${ROOMS:-500}
MYELIN_PORT=${MYELIN_PORT:-18321}
SYNAPSE_PORT=${SYNAPSE_PORT:-18322}

. scripts/bench-common.sh
build_and_install
cleanup() { kill "${MYELIN_PID:-}" "${SYNAPSE_PID:-}" 2>/dev/null || true; }
trap cleanup EXIT

start_myelin "$MYELIN_PORT"
echo "Myelin:"
target/release/myelin-bench --server "http://127.0.0.1:$MYELIN_PORT" sliding-sync --rooms "$ROOMS" 2>/dev/null
stop "$MYELIN_PID"; MYELIN_PID=

start_synapse "$SYNAPSE_PORT"
echo "Synapse $(.venv-synapse/bin/python -c 'import synapse; print(synapse.__version__)'):"
target/release/myelin-bench --server "http://127.0.0.1:$SYNAPSE_PORT" sliding-sync --rooms "$ROOMS" 2>/dev/null
