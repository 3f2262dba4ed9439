"""mautrix (the framework behind the mautrix bridges) as a real appservice of a real Myelin: it
registers a ghost, creates a room, invites a local user, receives that user's message in a
transaction, and answers as the ghost."""

import asyncio
import json
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from mautrix.appservice import AppService
from mautrix.appservice.state_store import FileASStateStore
from mautrix.types import MessageEvent, UserID

from conftest import MyelinProcess, free_port

PASSWORD = "correct horse battery"
AS_TOKEN = "mautrix-as-token"
HS_TOKEN = "mautrix-hs-token"


def registration(port: int) -> str:
    return f"""id: mautrixtest
url: http://127.0.0.1:{port}
as_token: {AS_TOKEN}
hs_token: {HS_TOKEN}
sender_localpart: mautrixbot
rate_limited: false
namespaces:
  users:
    - exclusive: true
      regex: '@mx_.*:localhost'
  aliases: []
  rooms: []
"""


def call(base: str, method: str, path: str, token: str, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


def test_mautrix_bridge_round_trip():
    port = free_port()
    directory = tempfile.TemporaryDirectory(prefix="mautrix-")
    registration_file = Path(directory.name, "registration.yaml")
    registration_file.write_text(registration(port))
    server = MyelinProcess(
        MYELIN_REGISTRATION__OPEN="true",
        MYELIN_APPSERVICES__REGISTRATION_FILES=json.dumps([str(registration_file)]),
    )
    try:
        asyncio.run(scenario(server.url, port, directory.name))
    finally:
        server.stop()
        directory.cleanup()


async def scenario(base: str, port: int, directory: str) -> None:
    received: list = []
    appservice = AppService(
        server=base,
        domain="localhost",
        as_token=AS_TOKEN,
        hs_token=HS_TOKEN,
        bot_localpart="mautrixbot",
        id="mautrixtest",
        state_store=FileASStateStore(path=str(Path(directory, "mx-state.json")), binary=False),
        aiohttp_params={},
    )

    async def on_event(event) -> None:
        if isinstance(event, MessageEvent):
            received.append(event)

    appservice.matrix_event_handler(on_event)
    await appservice.start(host="127.0.0.1", port=port)
    try:
        alice = call(
            base,
            "POST",
            "/_matrix/client/v3/register",
            "",
            {"username": "alice", "password": PASSWORD, "auth": {"type": "m.login.dummy"}},
        )
        ghost = appservice.intent.user(UserID("@mx_bob:localhost"))
        await ghost.ensure_registered()
        await ghost.set_displayname("Bob (bridged)")
        room_id = await ghost.create_room(name="Bridged chat", invitees=[alice["user_id"]])

        quoted = urllib.parse.quote(room_id)
        call(base, "POST", f"/_matrix/client/v3/join/{quoted}", alice["access_token"], {})
        call(
            base,
            "PUT",
            f"/_matrix/client/v3/rooms/{quoted}/send/m.room.message/t1",
            alice["access_token"],
            {"msgtype": "m.text", "body": "hi bob, from matrix"},
        )
        deadline = time.time() + 20
        while not any(event.content.body == "hi bob, from matrix" for event in received):
            assert time.time() < deadline, f"the bridge did not get the message: {received}"
            await asyncio.sleep(0.1)
        message = next(event for event in received if event.content.body == "hi bob, from matrix")
        assert message.sender == alice["user_id"]
        assert message.room_id == room_id

        await ghost.send_text(room_id, "hello alice, from the bridge")
        history = call(
            base,
            "GET",
            f"/_matrix/client/v3/rooms/{quoted}/messages?dir=b&limit=20",
            alice["access_token"],
        )
        replies = [
            event
            for event in history["chunk"]
            if event["type"] == "m.room.message" and event["sender"] == "@mx_bob:localhost"
        ]
        assert replies and replies[0]["content"]["body"] == "hello alice, from the bridge", history
        profile = call(base, "GET", "/_matrix/client/v3/profile/%40mx_bob%3Alocalhost", alice["access_token"])
        assert profile["displayname"] == "Bob (bridged)"
    finally:
        await appservice.stop()
