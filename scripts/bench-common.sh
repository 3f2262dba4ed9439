# Sourced by the bench scripts: builds the release binaries, installs Synapse from PyPI when
# missing, and starts a release Myelin or a Synapse on loopback. Expects ROOT and WORK set.

build_and_install() {
    cargo build --release --bin myelin
    cargo build --release -p myelin-bench
    if [ ! -x .venv-synapse/bin/python ] || ! .venv-synapse/bin/python -c 'import synapse' 2>/dev/null; then
        python3 -m venv .venv-synapse
        .venv-synapse/bin/pip install --quiet matrix-synapse
    fi
}

wait_for() { # url
    for _ in $(seq 1 120); do curl -sf "$1" >/dev/null && return 0; sleep 0.5; done
    echo "no answer from $1" >&2; return 1
}

start_myelin() { # port; sets MYELIN_PID
    mkdir -p "$WORK/myelin"
    (cd "$WORK/myelin" && MYELIN_REGISTRATION__OPEN=true MYELIN_RATE_LIMITS__ENABLED=false \
        MYELIN_CLIENT__BIND=127.0.0.1:$1 MYELIN_FEDERATION__ENABLED=false MYELIN_LOG=warn \
        exec "$ROOT/target/release/myelin" > myelin.log 2>&1) &
    MYELIN_PID=$!
    wait_for "http://127.0.0.1:$1/_matrix/client/versions"
}

start_synapse() { # port; sets SYNAPSE_PID
    mkdir -p "$WORK/synapse"
    sed -e "s|@DIR@|$WORK/synapse|g" -e "s|@PORT@|$1|g" "$ROOT/bench/synapse/homeserver.yaml.template" > "$WORK/synapse/homeserver.yaml"
    sed -e "s|filename: synapse.log|filename: $WORK/synapse/synapse.log|" "$ROOT/bench/synapse/log.yaml" > "$WORK/synapse/log.yaml"
    (cd "$WORK/synapse" && "$ROOT/.venv-synapse/bin/python" -m synapse.app.homeserver -c homeserver.yaml --generate-keys > /dev/null)
    (cd "$WORK/synapse" && exec "$ROOT/.venv-synapse/bin/python" -m synapse.app.homeserver -c homeserver.yaml > stdout.log 2>&1) &
    SYNAPSE_PID=$!
    wait_for "http://127.0.0.1:$1/_matrix/client/versions"
}

stop() { # pid
    kill "$1"; wait "$1" 2>/dev/null || true
}
