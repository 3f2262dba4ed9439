"""synadm (PyPI), the command-line client of Synapse's admin API, administering a running
Myelin: every command below is synadm's own request and parsing, and each result is checked
against what a client of Myelin then sees."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import MyelinProcess
from test_synapse_admin import SECRET, call, register_admin

SYNADM = Path(sys.executable).parent / "synadm"


@pytest.fixture(scope="module")
def server():
    myelin = MyelinProcess(
        MYELIN_REGISTRATION__OPEN="true",
        MYELIN_REGISTRATION__REGISTRATION_SHARED_SECRET=SECRET,
        MYELIN_SERVER_NOTICES__SYSTEM_MXID_LOCALPART="notices",
    )
    yield myelin
    myelin.stop()


@pytest.fixture(scope="module")
def synadm(server, tmp_path_factory):
    """Runs synadm with a configuration for the administrator; answers its parsed JSON."""
    token = register_admin(server.url, "synadmin")
    config = tmp_path_factory.mktemp("synadm") / "synadm.yaml"
    config.write_text(
        "\n".join(
            [
                'user: "@synadmin:localhost"',
                f'token: "{token}"',
                f'base_url: "{server.url}"',
                'admin_path: "/_synapse/admin"',
                'matrix_path: "/_matrix"',
                'format: "json"',
                "timeout: 30",
                'server_discovery: "well-known"',
                'homeserver: "localhost"',
                "ssl_verify: false",
            ]
        )
        + "\n"
    )

    def run(*args: str):
        done = subprocess.run(
            [str(SYNADM), "-c", str(config), "--batch", "-o", "minified", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, f"synadm {' '.join(args)}: {done.stdout}{done.stderr}"
        output = done.stdout.strip()
        if not output:
            return None
        try:
            return json.loads(output.splitlines()[-1])
        except json.JSONDecodeError:
            # Commands that only report success print a sentence.
            return output

    run.token = token
    return run


def login(base: str, user: str, password: str) -> dict:
    status, answer = call(
        base,
        "POST",
        "/_matrix/client/v3/login",
        body={"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user},
              "password": password},
    )
    return {"status": status, **answer}


def test_version_and_accounts(server, synadm):
    assert "server_version" in synadm("version")
    made = synadm("user", "modify", "@alice:localhost", "-P", "alice's password",
                  "-n", "Alice A.")
    assert made["name"] == "@alice:localhost", made
    assert made["displayname"] == "Alice A."
    listed = synadm("user", "list")
    assert "@alice:localhost" in [user["name"] for user in listed["users"]], listed
    details = synadm("user", "details", "@alice:localhost")
    assert details["admin"] is False and details["deactivated"] is False, details
    assert login(server.url, "alice", "alice's password")["status"] == 200

    synadm("user", "password", "@alice:localhost", "-p", "a new password")
    assert login(server.url, "alice", "alice's password")["status"] == 403
    assert login(server.url, "alice", "a new password")["status"] == 200

    synadm("user", "shadow-ban", "@alice:localhost")
    assert synadm("user", "details", "@alice:localhost")["shadow_banned"] is True
    synadm("user", "shadow-ban", "-u", "@alice:localhost")
    synadm("user", "suspend", "@alice:localhost")
    assert synadm("user", "details", "@alice:localhost")["suspended"] is True
    synadm("user", "suspend", "--unsuspend", "@alice:localhost")
    assert synadm("user", "details", "@alice:localhost")["suspended"] is False

    logged = synadm("user", "login", "@alice:localhost")
    assert "access_token" in logged, logged
    token = logged["access_token"]
    status, me = call(server.url, "GET", "/_matrix/client/v3/account/whoami", token)
    assert (status, me["user_id"]) == (200, "@alice:localhost")


def test_rooms_tokens_notices_history_and_erasure(server, synadm):
    alice = login(server.url, "alice", "a new password")
    status, room = call(server.url, "POST", "/_matrix/client/v3/createRoom", alice["access_token"],
                        {"preset": "public_chat", "name": "Synadm's room"})
    assert status == 200, room
    room_id = room["room_id"]
    sent = []
    for text in ["first", "second", "third"]:
        status, answer = call(
            server.url, "PUT",
            f"/_matrix/client/v3/rooms/{room_id}/send/m.room.message/{text}",
            alice["access_token"], {"msgtype": "m.text", "body": text},
        )
        assert status == 200, answer
        sent.append(answer["event_id"])

    rooms = synadm("room", "list")
    assert room_id in [entry["room_id"] for entry in rooms["rooms"]], rooms
    assert synadm("room", "details", room_id)["name"] == "Synadm's room"
    assert "@alice:localhost" in synadm("room", "members", room_id)["members"]
    assert synadm("user", "membership", "@alice:localhost")["joined_rooms"] == [room_id]

    token = synadm("regtok", "new", "-n", "synadm-made", "-u", "2")
    assert token["token"] == "synadm-made" and token["uses_allowed"] == 2, token
    assert "synadm-made" in [t["token"] for t in synadm("regtok", "list")["registration_tokens"]]
    deleted = synadm("regtok", "delete", "synadm-made")
    assert "synadm-made" not in json.dumps(synadm("regtok", "list")), deleted

    notice = synadm("notice", "send", "@alice:localhost", "Maintenance tonight")
    status, sync = call(server.url, "GET", "/_matrix/client/v3/sync", alice["access_token"])
    invited = sync["rooms"]["invite"]
    assert len(invited) == 1, (notice, sync)
    inviter = [event["sender"] for room in invited.values()
               for event in room["invite_state"]["events"] if event["type"] == "m.room.member"]
    assert "@notices:localhost" in inviter, invited

    # History before the last message goes (local events too, when asked).
    purge = synadm("history", "purge", room_id, "-i", sent[2], "--delete-local")
    status = synadm("history", "purge-status", purge["purge_id"])
    assert status["status"] == "complete", status
    status, page = call(server.url, "GET",
                        f"/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=20",
                        alice["access_token"])
    bodies = [event["content"].get("body") for event in page["chunk"]
              if event["type"] == "m.room.message"]
    assert bodies == ["third"], page

    # Redaction of what Alice sent, then erasure.
    redact = synadm("user", "redact", "@alice:localhost", "--reason", "cleanup")
    progress = synadm("user", "redact-status", redact["redact_id"])
    assert progress["status"] == "completed", progress
    status, event = call(server.url, "GET",
                         f"/_matrix/client/v3/rooms/{room_id}/event/{sent[2]}",
                         alice["access_token"])
    assert event["content"] == {}, event
    synadm("user", "deactivate", "-e", "@alice:localhost")
    details = synadm("user", "details", "@alice:localhost")
    assert details["deactivated"] is True and details["erased"] is True, details

    deleted = synadm("room", "delete", room_id, "--block")
    status = synadm("room", "delete-status", "-d", deleted["delete_id"])
    assert status["status"] == "complete", status
    assert synadm("room", "block-status", room_id)["block"] is True
