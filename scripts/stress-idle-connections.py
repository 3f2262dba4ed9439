#!/usr/bin/env python3
"""Opens many idle (and half-sent) connections to a homeserver's client port and checks that a
real client's /sync keeps being answered meanwhile. Usage:

    scripts/stress-idle-connections.py http://127.0.0.1:8008 [connections]

Registers a user (open registration), measures /sync?timeout=0 before, during and after the
flood of idle connections, and prints one JSON line. It reports; it does not assert.
"""

import json
import resource
import socket
import statistics
import sys
import time
import urllib.request
import uuid


def call(base, method, path, token=None, body=None, timeout=30):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def sync_latencies(base, token, count=20):
    latencies, failures = [], 0
    for _ in range(count):
        started = time.monotonic()
        try:
            call(base, "GET", "/_matrix/client/v3/sync?timeout=0", token, timeout=30)
            latencies.append((time.monotonic() - started) * 1000)
        except Exception:  # noqa: BLE001 - a failure is what is being counted
            failures += 1
    return {
        "p50_ms": round(statistics.median(latencies), 2) if latencies else None,
        "max_ms": round(max(latencies), 2) if latencies else None,
        "failures": failures,
    }


def main():
    base = sys.argv[1].rstrip("/")
    wanted = int(sys.argv[2]) if len(sys.argv) > 2 else 20_000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    wanted = min(wanted, hard - 64)
    user = call(
        base,
        "POST",
        "/_matrix/client/v3/register",
        body={
            "username": "idle" + uuid.uuid4().hex[:8],
            "password": "correct horse battery",
            "auth": {"type": "m.login.dummy"},
        },
    )
    token = user["access_token"]
    host, port = base.split("//")[1].split(":")
    before = sync_latencies(base, token)
    sockets, refused = [], 0
    started = time.monotonic()
    for index in range(wanted):
        try:
            connection = socket.create_connection((host, int(port)), timeout=5)
            if index % 2:
                # Half of them start a request and never finish its headers.
                connection.sendall(b"GET /_matrix/client/versions HTTP/1.1\r\nhost: x\r\n")
            sockets.append(connection)
        except OSError:
            refused += 1
    opened_in = time.monotonic() - started
    during = sync_latencies(base, token)
    closed_by_server = 0
    for connection in sockets:
        connection.setblocking(False)
        try:
            if connection.recv(1) == b"":
                closed_by_server += 1
        except BlockingIOError:
            pass
        except OSError:
            closed_by_server += 1
    for connection in sockets:
        connection.close()
    after = sync_latencies(base, token)
    print(
        json.dumps(
            {
                "connections_attempted": wanted,
                "connect_failures": refused,
                "seconds_to_open": round(opened_in, 1),
                "closed_by_server_before_end": closed_by_server,
                "sync_before": before,
                "sync_during": during,
                "sync_after": after,
            }
        )
    )


if __name__ == "__main__":
    main()
