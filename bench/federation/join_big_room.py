"""Federation join benchmark: how long a user of another server takes to join, through Synapse, a
room with many members and state events. Myelin's join is measured against a second Synapse
joining the same room through the same Synapse in the same run (the baseline), so the figure is a
ratio.

The room is built on a seed Myelin (Synapse needs over an hour on 2 cores to take 10,000 state
events through its client API) and the host Synapse joins it first; the measured joins then go
through the host Synapse, which answers `make_join` and `send_join` from its own copy.

Run by scripts/bench-federation.sh (release build, Synapse from PyPI); writes a JSON result.
Usage: python join_big_room.py --members 2000 --state 10000 --out result.json
"""

import argparse
import json
import os
import sys
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "interop"))

from conftest import SynapseProcess, federated_myelin  # noqa: E402
from test_synapse_federation import Client  # noqa: E402


# Joining a room of this size takes Synapse minutes.
Client.timeout = 1800


def timed_join(client: Client, room_id: str, via: str) -> float:
    started = time.perf_counter()
    client.join(room_id, via)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--state", type=int, default=10000, help="state events in total")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    host = SynapseProcess(extra_config="bcrypt_rounds: 4\n")
    baseline = SynapseProcess(extra_config="bcrypt_rounds: 4\n")
    seed = federated_myelin()
    myelin = federated_myelin()
    try:
        owner = Client(seed.url, "owner")
        room_id = owner.create_room("10", name="big room")
        quoted = urllib.parse.quote(room_id)

        def add_member(n: int) -> None:
            member = Client(seed.url, f"member{n}")
            member.ok("POST", f"/_matrix/client/v3/rooms/{quoted}/join", {})

        started = time.perf_counter()
        with ThreadPoolExecutor(args.workers) as pool:
            list(pool.map(add_member, range(args.members - 2)))

        def add_state(n: int) -> None:
            owner.ok("PUT", f"/_matrix/client/v3/rooms/{quoted}/state/bench.state/{n}", {"n": n})

        # The host's own member event is one more state event.
        extra_state = max(0, args.state - len(owner.state(room_id)) - 1)
        with ThreadPoolExecutor(args.workers) as pool:
            list(pool.map(add_state, range(extra_state)))
        print(f"seed room ready ({time.perf_counter() - started:.0f} s)", flush=True)

        resident = Client(host.url, "resident")
        host_seconds = timed_join(resident, room_id, seed.server_name)
        state_count = len(resident.state(room_id))
        members = len(resident.members(room_id))
        print(f"the host Synapse joined in {host_seconds:.1f} s: {members} members, {state_count} state events", flush=True)

        myelin_seconds = timed_join(Client(myelin.url, "joiner"), room_id, host.server_name)
        print(f"Myelin joined in {myelin_seconds:.2f} s", flush=True)
        synapse_seconds = timed_join(Client(baseline.url, "joiner"), room_id, host.server_name)
        print(f"Synapse joined in {synapse_seconds:.2f} s", flush=True)
        result = {
            "members": members,
            "state_events": state_count,
            "host_synapse_join_from_myelin_seconds": round(host_seconds, 3),
            "myelin_join_seconds": round(myelin_seconds, 3),
            "synapse_join_seconds": round(synapse_seconds, 3),
            "synapse_over_myelin": round(synapse_seconds / myelin_seconds, 2),
        }
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
    finally:
        myelin.stop()
        seed.stop()
        baseline.stop()
        host.stop()


if __name__ == "__main__":
    os.environ.setdefault("MYELIN_BIN", str(ROOT / "target" / "release" / "myelin"))
    main()
