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

mkdir -p "$WORK/myelin"
(cd "$WORK/myelin" && MYELIN_REGISTRATION__OPEN=true MYELIN_RATE_LIMITS__ENABLED=false \
    MYELIN_CLIENT__BIND=127.0.0.1:$MYELIN_PORT MYELIN_FEDERATION__ENABLED=false MYELIN_LOG=warn \
    exec "$ROOT/target/release/myelin" > myelin.log 2>&1) &
MYELIN_PID=$!
wait_for "http://127.0.0.1:$MYELIN_PORT/_matrix/client/versions"
echo "Myelin:"
target/release/myelin-bench --server "http://127.0.0.1:$MYELIN_PORT" sliding-sync --rooms "$ROOMS" 2>/dev/null
kill "$MYELIN_PID"; wait "$MYELIN_PID" 2>/dev/null || true; MYELIN_PID=

mkdir -p "$WORK/synapse"
sed -e "s|@DIR@|$WORK/synapse|g" -e "s|@PORT@|$SYNAPSE_PORT|g" bench/synapse/homeserver.yaml.template > "$WORK/synapse/homeserver.yaml"
sed -e "s|filename: synapse.log|filename: $WORK/synapse/synapse.log|" bench/synapse/log.yaml > "$WORK/synapse/log.yaml"
(cd "$WORK/synapse" && "$ROOT/.venv-synapse/bin/python" -m synapse.app.homeserver -c homeserver.yaml --generate-keys > /dev/null)
(cd "$WORK/synapse" && exec "$ROOT/.venv-synapse/bin/python" -m synapse.app.homeserver -c homeserver.yaml > stdout.log 2>&1) &
SYNAPSE_PID=$!
wait_for "http://127.0.0.1:$SYNAPSE_PORT/_matrix/client/versions"
echo "Synapse $(.venv-synapse/bin/python -c 'import synapse; print(synapse.__version__)'):"
target/release/myelin-bench --server "http://127.0.0.1:$SYNAPSE_PORT" sliding-sync --rooms "$ROOMS" 2>/dev/null
