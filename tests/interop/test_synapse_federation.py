"""Myelin and Synapse (from PyPI) share rooms over real federation on loopback: each side's users
join the other's rooms in room versions 2, 6, 9, 10, 11 and 12; messages, edits, redactions, typing and
receipts cross both ways; history from before a join is visible; invites and leaves cross; both
servers end up agreeing on the members and the current state, also after members of both
leave and join at the same moment."""

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest

PASSWORD = "correct horse battery"


class Client:
    """A minimal client-server API client (the stdlib only, so what is tested is the servers)."""

    timeout = 60

    def __init__(self, base: str, name: str):
        self.base = base
        body = {"username": name, "password": PASSWORD, "auth": {"type": "m.login.dummy"}}
        status, response = self.call("POST", "/_matrix/client/v3/register", body, auth=False)
        assert status == 200, response
        self.token = response["access_token"]
        self.user_id = response["user_id"]

    def call(self, method: str, path: str, body=None, auth=True):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if auth:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def ok(self, method: str, path: str, body=None):
        status, response = self.call(method, path, body)
        assert status == 200, f"{method} {path}: {status} {response}"
        return response

    def create_room(self, version: str, **extra) -> str:
        body = {"preset": "public_chat", "room_version": version, **extra}
        return self.ok("POST", "/_matrix/client/v3/createRoom", body)["room_id"]

    def join(self, room_id: str, via: str) -> None:
        quoted = urllib.parse.quote(room_id)
        self.ok("POST", f"/_matrix/client/v3/join/{quoted}?server_name={via}&via={via}", {})

    def send(self, room_id: str, content: dict, kind: str = "m.room.message") -> str:
        path = f"/_matrix/client/v3/rooms/{urllib.parse.quote(room_id)}/send/{kind}/{uuid.uuid4().hex}"
        return self.ok("PUT", path, content)["event_id"]

    def text(self, room_id: str, body: str) -> str:
        return self.send(room_id, {"msgtype": "m.text", "body": body})

    def messages(self, room_id: str, limit: int = 100) -> list:
        path = f"/_matrix/client/v3/rooms/{urllib.parse.quote(room_id)}/messages?dir=b&limit={limit}"
        return self.ok("GET", path)["chunk"]

    def state(self, room_id: str) -> list:
        return self.ok("GET", f"/_matrix/client/v3/rooms/{urllib.parse.quote(room_id)}/state")

    def members(self, room_id: str) -> set:
        joined = self.ok("GET", f"/_matrix/client/v3/rooms/{urllib.parse.quote(room_id)}/joined_members")
        return set(joined["joined"])


def eventually(check, seconds: float = 30, what: str = "condition"):
    deadline = time.time() + seconds
    last = None
    while time.time() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"{what} not met within {seconds}s (last: {last!r})")


def bodies(client: Client, room_id: str) -> list:
    return [event["content"].get("body") for event in client.messages(room_id) if event["type"] == "m.room.message"]


def find_event(client: Client, room_id: str, event_id: str):
    for event in client.messages(room_id):
        if event["event_id"] == event_id:
            return event
    return None


@pytest.fixture(scope="module")
def pair(synapse, federated):
    sam = Client(synapse.url, "sam")
    mia = Client(federated.url, "mia")
    return synapse, federated, sam, mia


# Every room version Myelin serves that rooms on the network use; version 1 needs state
# resolution v1, which Myelin does not have (ruma does not implement it).
@pytest.mark.parametrize("version", ["2", "6", "9", "10", "11", "12"])
def test_each_side_joins_the_others_room_and_messages_cross(pair, version):
    synapse, myelin, sam, mia = pair

    # A Myelin user joins a Synapse room and sees its history from before the join.
    synapse_room = sam.create_room(version, name=f"synapse v{version}")
    sam.text(synapse_room, f"before mia joined v{version}")
    mia.join(synapse_room, synapse.server_name)
    eventually(lambda: mia.user_id in sam.members(synapse_room), what="Synapse sees Mia joined")
    eventually(
        lambda: f"before mia joined v{version}" in bodies(mia, synapse_room),
        what="history from before the join on Myelin",
    )
    sam.text(synapse_room, f"sam to mia v{version}")
    eventually(lambda: f"sam to mia v{version}" in bodies(mia, synapse_room), what="Synapse -> Myelin message")
    mia.text(synapse_room, f"mia to sam v{version}")
    eventually(lambda: f"mia to sam v{version}" in bodies(sam, synapse_room), what="Myelin -> Synapse message")

    # A Synapse user joins a Myelin room and sees its history from before the join.
    myelin_room = mia.create_room(version, name=f"myelin v{version}")
    mia.text(myelin_room, f"before sam joined v{version}")
    sam.join(myelin_room, myelin.server_name)
    eventually(lambda: sam.user_id in mia.members(myelin_room), what="Myelin sees Sam joined")
    eventually(
        lambda: f"before sam joined v{version}" in bodies(sam, myelin_room),
        what="history from before the join on Synapse",
    )
    mia.text(myelin_room, f"in myelin's room v{version}")
    eventually(lambda: f"in myelin's room v{version}" in bodies(sam, myelin_room), what="message to Synapse")
    sam.text(myelin_room, f"sam answers v{version}")
    eventually(lambda: f"sam answers v{version}" in bodies(mia, myelin_room), what="message to Myelin")

    for room in (synapse_room, myelin_room):
        eventually(lambda: sam.members(room) == mia.members(room), what="same members on both sides")
        eventually(
            lambda: sorted(e["event_id"] for e in sam.state(room)) == sorted(e["event_id"] for e in mia.state(room)),
            what="same current state on both sides",
        )


def sync_until(client: Client, check, seconds: float = 30, what: str = "condition"):
    """Long-polls /sync until `check(response)` holds for some response."""
    deadline = time.time() + seconds
    since = None
    while time.time() < deadline:
        path = "/_matrix/client/v3/sync?timeout=1000" + (f"&since={since}" if since else "")
        response = client.ok("GET", path)
        if check(response):
            return response
        since = response["next_batch"]
    raise AssertionError(f"{what} not met within {seconds}s")


def ephemeral(response: dict, room_id: str, kind: str) -> list:
    events = response.get("rooms", {}).get("join", {}).get(room_id, {}).get("ephemeral", {}).get("events", [])
    return [event for event in events if event["type"] == kind]


@pytest.mark.parametrize("version", ["10", "11", "12"])
def test_edits_redactions_typing_receipts_invites_and_leaves_cross(pair, version):
    synapse, myelin, sam, mia = pair
    quoted = urllib.parse.quote

    for creator, guest, creator_server in ((sam, mia, synapse), (mia, sam, myelin)):
        # The guest is invited across, sees the invite and accepts it.
        room = creator.create_room(version, preset="private_chat")
        creator.ok("POST", f"/_matrix/client/v3/rooms/{quoted(room)}/invite", {"user_id": guest.user_id})
        sync_until(guest, lambda r: room in r.get("rooms", {}).get("invite", {}), what="invite arrives")
        guest.join(room, creator_server.server_name)
        eventually(lambda: guest.user_id in creator.members(room), what="the invitee's join arrives")

        # An edit and a redaction cross.
        original = creator.text(room, "typo")
        creator.send(
            room,
            {
                "msgtype": "m.text",
                "body": "* fixed",
                "m.new_content": {"msgtype": "m.text", "body": "fixed"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": original},
            },
        )
        doomed = creator.text(room, "regrettable")
        eventually(lambda: "* fixed" in bodies(guest, room), what="the edit arrives")
        edits = guest.ok("GET", f"/_matrix/client/v1/rooms/{quoted(room)}/relations/{quoted(original)}/m.replace")
        assert [e["content"]["m.new_content"]["body"] for e in edits["chunk"]] == ["fixed"]
        eventually(lambda: find_event(guest, room, doomed) is not None, what="the doomed message arrives")
        creator.ok("PUT", f"/_matrix/client/v3/rooms/{quoted(room)}/redact/{quoted(doomed)}/{uuid.uuid4().hex}", {"reason": "oops"})
        eventually(lambda: find_event(guest, room, doomed)["content"] == {}, what="the redaction arrives")

        # Typing from the guest shows on the creator's side, and a receipt follows.
        guest.ok("PUT", f"/_matrix/client/v3/rooms/{quoted(room)}/typing/{quoted(guest.user_id)}", {"typing": True, "timeout": 20000})
        sync_until(
            creator,
            lambda r: any(guest.user_id in e["content"]["user_ids"] for e in ephemeral(r, room, "m.typing")),
            what="typing arrives",
        )
        latest = creator.text(room, "read this")
        eventually(lambda: find_event(guest, room, latest) is not None, what="the message to read arrives")
        guest.ok("POST", f"/_matrix/client/v3/rooms/{quoted(room)}/receipt/m.read/{quoted(latest)}", {})
        sync_until(
            creator,
            lambda r: any(
                guest.user_id in e["content"].get(latest, {}).get("m.read", {}) for e in ephemeral(r, room, "m.receipt")
            ),
            what="the read receipt arrives",
        )

        # The guest leaves; both sides agree on who is left and on the state.
        guest.ok("POST", f"/_matrix/client/v3/rooms/{quoted(room)}/leave", {})
        eventually(lambda: creator.members(room) == {creator.user_id}, what="the leave arrives")
        state_ids = lambda client: sorted(e["event_id"] for e in client.state(room))  # noqa: E731
        creator_state = state_ids(creator)
        status, _ = guest.call("GET", f"/_matrix/client/v3/rooms/{quoted(room)}/state")
        if status == 200:
            assert state_ids(guest) == creator_state

    # An invite that is declined crosses too.
    room = sam.create_room(version, preset="private_chat")
    sam.ok("POST", f"/_matrix/client/v3/rooms/{quoted(room)}/invite", {"user_id": mia.user_id})
    sync_until(mia, lambda r: room in r.get("rooms", {}).get("invite", {}), what="invite to decline arrives")
    mia.ok("POST", f"/_matrix/client/v3/rooms/{quoted(room)}/leave", {})

    def declined():
        for event in sam.state(room):
            if event["type"] == "m.room.member" and event["state_key"] == mia.user_id:
                return event["content"]["membership"] == "leave"
        return False

    eventually(declined, what="Synapse sees the invite declined")


def at_once(*actions) -> None:
    """Runs the actions at the same moment, each in its own thread; re-raises a failure."""
    barrier = threading.Barrier(len(actions))
    errors = []

    def run(action):
        barrier.wait()
        try:
            action()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(action,)) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


@pytest.mark.parametrize("version", ["10", "12"])
def test_concurrent_leaves_and_joins_from_both_sides_agree(pair, version):
    """Members of both servers leave (then join) at the same moment, several times: the room
    forks, both servers resolve the forks, and they end up agreeing on who is a member and on
    the whole current state."""
    synapse, myelin, sam, mia = pair
    quoted = urllib.parse.quote
    room = sam.create_room(version, name=f"busy door v{version}")
    mia.join(room, synapse.server_name)
    eventually(lambda: mia.user_id in sam.members(room), what="Synapse sees Mia joined")
    for round_ in range(3):
        tag = f"v{version}r{round_}{uuid.uuid4().hex[:6]}"
        synapse_guest = Client(synapse.url, f"s{tag}")
        myelin_guest = Client(myelin.url, f"m{tag}")
        at_once(
            lambda: synapse_guest.join(room, synapse.server_name),
            lambda: myelin_guest.join(room, synapse.server_name),
        )
        everyone = {sam.user_id, mia.user_id, synapse_guest.user_id, myelin_guest.user_id}
        eventually(lambda: sam.members(room) == everyone, what="Synapse sees both joins")
        eventually(lambda: mia.members(room) == everyone, what=f"Myelin sees both joins ({tag}: {everyone})")
        at_once(
            lambda: synapse_guest.ok("POST", f"/_matrix/client/v3/rooms/{quoted(room)}/leave", {}),
            lambda: myelin_guest.ok("POST", f"/_matrix/client/v3/rooms/{quoted(room)}/leave", {}),
            lambda: sam.text(room, f"while they leave {tag}"),
            lambda: mia.text(room, f"mia too {tag}"),
        )
        staying = {sam.user_id, mia.user_id}
        eventually(lambda: sam.members(room) == staying, what=f"Synapse sees both leaves ({tag})")
        eventually(lambda: mia.members(room) == staying, what=f"Myelin sees both leaves ({tag})")
    state_ids = lambda client: sorted(e["event_id"] for e in client.state(room))  # noqa: E731
    eventually(lambda: state_ids(sam) == state_ids(mia), what="the same current state on both sides")


def tiny_png(width: int, height: int) -> bytes:
    """A solid-colour RGB PNG, made with the standard library."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xc8\x1e\x1e" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def raw(client: Client, method: str, path: str, data: bytes = None, content_type: str = None):
    request = urllib.request.Request(client.base + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {client.token}")
    if content_type:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=client.timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def upload(client: Client, data: bytes, content_type: str) -> str:
    status, _, body = raw(client, "POST", "/_matrix/media/v3/upload?filename=file", data, content_type)
    assert status == 200, body
    return json.loads(body)["content_uri"].removeprefix("mxc://")


def test_media_crosses_both_ways_with_thumbnails(pair):
    synapse, myelin, sam, mia = pair
    payload = bytes(range(256)) * 400

    # Myelin fetches Synapse's media over federation (multipart answer) and serves it.
    on_synapse = upload(sam, payload, "application/octet-stream")
    assert on_synapse.startswith(synapse.server_name)
    status, headers, body = raw(mia, "GET", f"/_matrix/client/v1/media/download/{on_synapse}")
    assert status == 200, body[:200]
    assert body == payload

    # Synapse fetches Myelin's media from Myelin's federation media endpoint.
    on_myelin = upload(mia, payload[::-1], "application/octet-stream")
    assert on_myelin.startswith(myelin.server_name)
    status, headers, body = raw(sam, "GET", f"/_matrix/client/v1/media/download/{on_myelin}")
    assert status == 200, body[:200]
    assert body == payload[::-1]

    # And a thumbnail of a Myelin image through Synapse (Myelin's federation thumbnail endpoint).
    image = upload(mia, tiny_png(300, 200), "image/png")
    status, headers, body = raw(sam, "GET", f"/_matrix/client/v1/media/thumbnail/{image}?width=32&height=32&method=crop")
    assert status == 200, body[:200]
    assert body.startswith(b"\x89PNG"), body[:16]
    # A thumbnail of Synapse's image through Myelin.
    synapse_image = upload(sam, tiny_png(300, 200), "image/png")
    status, headers, body = raw(mia, "GET", f"/_matrix/client/v1/media/thumbnail/{synapse_image}?width=96&height=96&method=crop")
    assert status == 200, body[:200]
    assert body.startswith(b"\x89PNG"), body[:16]
