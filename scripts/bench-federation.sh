#!/usr/bin/env bash
# Federation benchmarks against Synapse, in one run on this machine (release builds; Synapse from
# PyPI with SQLite): the time for a user of another server to join, through Synapse, a room with
# 2,000 members and 10,000 state events (Myelin against a second Synapse; the room is built on a
# seed Myelin, which Synapse then joins), and inbound transactions of 50 PDUs per second (Myelin
# against Synapse receiving the same signed transactions).
# Writes bench/results/federation-join.json and federation-ingest.json. Takes ~10 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
MEMBERS=${MEMBERS:-2000}
STATE=${STATE:-10000}
TRANSACTIONS=${TRANSACTIONS:-40}

cargo build --release --bin myelin
for venv in interop synapse; do
    requirements=tests/interop/requirements.txt
    [ "$venv" = synapse ] && requirements=tests/interop/synapse-requirements.txt
    if [ ! -x ".venv-$venv/bin/python" ] || ! cmp -s "$requirements" ".venv-$venv/requirements.txt"; then
        python3 -m venv ".venv-$venv"
        ".venv-$venv/bin/pip" install --quiet --upgrade pip
        ".venv-$venv/bin/pip" install --quiet -r "$requirements"
        cp "$requirements" ".venv-$venv/requirements.txt"
    fi
done

MYELIN_BIN=target/release/myelin .venv-interop/bin/python bench/federation/join_big_room.py \
    --members "$MEMBERS" --state "$STATE" --out bench/results/federation-join.json
BENCH_OUT=bench/results/federation-ingest.json cargo bench --bench federation_ingest -- "$TRANSACTIONS"
