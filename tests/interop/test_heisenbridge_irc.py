"""A real bridge on a real Myelin: Heisenbridge (PyPI) connects Myelin to an IRC server from
Debian (ngircd) on loopback. The owner sets the network up by talking to the bridge bot, a
message from IRC reaches the Matrix user and the Matrix user's message reaches IRC."""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from conftest import MyelinProcess, free_port, keep_logs

PASSWORD = "correct horse battery"
NGIRCD = shutil.which("ngircd") or "/usr/sbin/ngircd"

pytestmark = pytest.mark.skipif(
    not Path(NGIRCD).exists(), reason="ngircd is not installed (.ci/run installs it)"
)


class Matrix:
    """The bridge owner's client (standard library only)."""

    def __init__(self, base: str, name: str):
        self.base = base
        answer = self.call(
            "POST",
            "/_matrix/client/v3/register",
            {"username": name, "password": PASSWORD, "auth": {"type": "m.login.dummy"}},
            token=None,
        )
        self.token = answer["access_token"]
        self.user_id = answer["user_id"]
        self.since = None

    def call(self, method: str, path: str, body=None, token: str | None = "self"):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token == "self":
            token = self.token
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read() or b"{}")

    def sync(self) -> dict:
        path = "/_matrix/client/v3/sync?timeout=1000"
        if self.since:
            path += f"&since={self.since}"
        answer = self.call("GET", path)
        self.since = answer["next_batch"]
        return answer

    def wait(self, check, what: str, seconds: float = 60):
        deadline = time.time() + seconds
        while time.time() < deadline:
            found = check(self.sync())
            if found:
                return found
        raise AssertionError(f"{what} did not happen within {seconds}s")

    def join(self, room_id: str) -> None:
        self.call("POST", f"/_matrix/client/v3/join/{urllib.parse.quote(room_id)}", {})

    def say(self, room_id: str, text: str) -> None:
        path = f"/_matrix/client/v3/rooms/{urllib.parse.quote(room_id)}/send/m.room.message/{time.time_ns()}"
        self.call("PUT", path, {"msgtype": "m.text", "body": text})


def invites(sync: dict) -> list:
    return list(sync.get("rooms", {}).get("invite", {}).keys())


def messages(sync: dict, room_id: str | None = None) -> list:
    found = []
    for joined_room, room in sync.get("rooms", {}).get("join", {}).items():
        if room_id and joined_room != room_id:
            continue
        for event in room.get("timeline", {}).get("events", []):
            if event.get("type") == "m.room.message":
                found.append((joined_room, event))
    return found


class Irc:
    """A minimal IRC client on a raw socket."""

    def __init__(self, port: int, nick: str):
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buffer = b""
        self.send(f"NICK {nick}")
        self.send(f"USER {nick} 0 * :{nick}")
        self.expect(" 001 ")

    def send(self, line: str) -> None:
        self.socket.sendall(line.encode() + b"\r\n")

    def expect(self, needle: str, seconds: float = 60) -> str:
        deadline = time.time() + seconds
        while time.time() < deadline:
            while b"\r\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\r\n", 1)
                text = line.decode(errors="replace")
                if text.startswith("PING"):
                    self.send("PONG" + text[4:])
                if needle in text:
                    return text
            self.socket.settimeout(max(0.1, deadline - time.time()))
            try:
                chunk = self.socket.recv(4096)
            except socket.timeout:
                break
            if not chunk:
                break
            self.buffer += chunk
        raise AssertionError(f"IRC: {needle!r} not seen")


def start_ngircd(directory: Path, port: int) -> subprocess.Popen:
    config = directory / "ngircd.conf"
    config.write_text(
        f"""[Global]
Name = irc.loop.test
Info = Myelin interop test
Listen = 127.0.0.1
Ports = {port}
MotdPhrase = "loopback only"
[Limits]
MaxConnectionsIP = 0
[Options]
DNS = no
Ident = no
PAM = no
"""
    )
    os.chmod(directory, 0o755)
    os.chmod(config, 0o644)
    process = subprocess.Popen(
        [NGIRCD, "--nodaemon", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process
        except OSError:
            if process.poll() is not None:
                raise RuntimeError("ngircd did not start:\n" + (process.stdout.read() if process.stdout else ""))
            time.sleep(0.2)
    raise RuntimeError("ngircd did not listen")


def test_messages_cross_between_matrix_and_irc():
    directory = Path(tempfile.mkdtemp(prefix="heisenbridge-"))
    irc_port = free_port()
    bridge_port = free_port()
    registration = directory / "heisenbridge.yaml"
    subprocess.run(
        [sys.executable, "-m", "heisenbridge", "-c", str(registration), "--generate",
         "-l", "127.0.0.1", "-p", str(bridge_port), "http://127.0.0.1:1"],
        check=True, capture_output=True,
    )
    ircd = start_ngircd(directory, irc_port)
    server = MyelinProcess(
        MYELIN_REGISTRATION__OPEN="true",
        MYELIN_APPSERVICES__REGISTRATION_FILES=json.dumps([str(registration)]),
    )
    bridge = None
    try:
        owner = Matrix(server.url, "owner")
        bridge = subprocess.Popen(
            [sys.executable, "-m", "heisenbridge", "-c", str(registration), "-o", owner.user_id, server.url],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=directory,
        )
        # The bot opens a control room with its owner.
        control = owner.wait(lambda sync: next(iter(invites(sync)), None), "the bot's invite")
        owner.join(control)
        owner.say(control, "ADDNETWORK loopnet")
        owner.say(control, f"ADDSERVER loopnet 127.0.0.1 {irc_port}")
        owner.say(control, "OPEN loopnet")
        network = owner.wait(lambda sync: next(iter(invites(sync)), None), "the network room")
        owner.join(network)
        owner.say(network, "CONNECT")
        # Wait for the IRC server's RPL_WELCOME (001), relayed by the bridge as a notice. Not any
        # "Welcome": the bridge greets the new network room with one before it even connects, and a
        # JOIN sent before the IRC registration completes is refused by the IRC server.
        owner.wait(
            lambda sync: any("Internet Relay Network" in event["content"].get("body", "")
                             for _, event in messages(sync, network)),
            "the IRC connection",
        )
        owner.say(network, "JOIN #loop")
        channel = owner.wait(lambda sync: next(iter(invites(sync)), None), "the channel room")
        owner.join(channel)

        irc = Irc(irc_port, "ircuser")
        irc.send("JOIN #loop")
        irc.expect("JOIN")
        time.sleep(1)
        irc.send("PRIVMSG #loop :hello from irc")
        owner.wait(
            lambda sync: any(event["content"].get("body") == "hello from irc" for _, event in messages(sync, channel)),
            "the IRC message on Matrix",
        )
        owner.say(channel, "hello from matrix")
        line = irc.expect("hello from matrix")
        assert "PRIVMSG #loop" in line, line
    finally:
        if bridge is not None:
            bridge.terminate()
            try:
                output, _ = bridge.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                bridge.kill()
                output, _ = bridge.communicate()
            keep_logs("heisenbridge", output or "")
            # pytest shows captured output only when the test fails: the bridge's last words.
            print("--- heisenbridge ---\n" + (output or "")[-6000:])
        ircd.terminate()
        ircd_output, _ = ircd.communicate(timeout=10)
        print("--- ngircd ---\n" + (ircd_output or "")[-3000:])
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
