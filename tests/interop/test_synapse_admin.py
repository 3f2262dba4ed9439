"""Synapse's admin API as tools made for Synapse use it, against Myelin:

- `register_new_matrix_user` (Synapse's own script, from the Synapse release in .venv-synapse)
  makes an administrator through shared-secret registration;
- the same admin requests sent to Synapse and to Myelin answer with the same fields: every key
  Synapse returns for a sample of endpoints, Myelin returns too, with a value of the same JSON
  type (or null where Synapse also allows null).
"""

import json
import subprocess
import urllib.error
import urllib.request

import pytest

from conftest import ROOT, MyelinProcess, SynapseProcess

SECRET = "complement"
REGISTER = ROOT / ".venv-synapse" / "bin" / "register_new_matrix_user"


def call(base: str, method: str, path: str, token: str | None = None, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def register_admin(base: str, name: str) -> str:
    """Runs Synapse's script against `base`; returns a token of the new administrator."""
    subprocess.run(
        [str(REGISTER), "-u", name, "-p", "a password for admins", "-a", "-k", SECRET, base],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    status, login = call(
        base,
        "POST",
        "/_matrix/client/v3/login",
        body={
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": name},
            "password": "a password for admins",
        },
    )
    assert status == 200, login
    return login["access_token"]


@pytest.fixture(scope="module")
def servers():
    myelin = MyelinProcess(
        MYELIN_REGISTRATION__OPEN="true",
        MYELIN_REGISTRATION__REGISTRATION_SHARED_SECRET=SECRET,
    )
    synapse = SynapseProcess()
    yield {"myelin": myelin, "synapse": synapse}
    myelin.stop()
    synapse.stop()


def test_register_new_matrix_user_makes_an_administrator(servers):
    base = servers["myelin"].url
    token = register_admin(base, "scriptadmin")
    status, me = call(base, "GET", "/_synapse/admin/v2/users/@scriptadmin:localhost", token)
    assert status == 200, me
    assert me["admin"] is True
    assert me["deactivated"] is False
    # A bot, with the user type in the MAC as the script sends it.
    subprocess.run(
        [str(REGISTER), "-u", "scriptbot", "-p", "a password for bots", "--no-admin",
         "-t", "bot", "-k", SECRET, base],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    status, bot = call(base, "GET", "/_synapse/admin/v2/users/@scriptbot:localhost", token)
    assert status == 200, bot
    assert (bot["user_type"], bot["admin"]) == ("bot", False), bot


def same_shape(synapse_value, myelin_value, where: str) -> list[str]:
    """Where Myelin's answer lacks a key of Synapse's, or has another JSON type."""
    problems = []
    if isinstance(synapse_value, dict):
        if not isinstance(myelin_value, dict):
            return [f"{where}: Synapse sends an object, Myelin {type(myelin_value).__name__}"]
        for key, value in synapse_value.items():
            if key not in myelin_value:
                problems.append(f"{where}.{key}: missing")
            else:
                problems += same_shape(value, myelin_value[key], f"{where}.{key}")
    elif isinstance(synapse_value, list):
        if not isinstance(myelin_value, list):
            return [f"{where}: Synapse sends a list, Myelin {type(myelin_value).__name__}"]
        if synapse_value and myelin_value:
            problems += same_shape(synapse_value[0], myelin_value[0], f"{where}[0]")
    elif synapse_value is not None and myelin_value is not None:
        if type(synapse_value) is not type(myelin_value) and not (
            isinstance(synapse_value, (int, float)) and isinstance(myelin_value, (int, float))
        ):
            problems.append(
                f"{where}: Synapse sends {type(synapse_value).__name__}, "
                f"Myelin {type(myelin_value).__name__}"
            )
    return problems


def populate(base: str, admin: str) -> dict:
    """A user and a named public room, the same on both servers; returns their ids."""
    status, user = call(
        base,
        "POST",
        "/_matrix/client/v3/register",
        body={"username": "plainuser", "password": "a password for users",
              "auth": {"type": "m.login.dummy"}},
    )
    assert status == 200, user
    status, room = call(
        base,
        "POST",
        "/_matrix/client/v3/createRoom",
        user["access_token"],
        {"preset": "public_chat", "name": "Shapes", "topic": "compared"},
    )
    assert status == 200, room
    return {"user": user["user_id"], "room": room["room_id"]}


def test_admin_answers_have_synapses_shape(servers):
    answers = {}
    for name, server in servers.items():
        token = register_admin(server.url, "shapeadmin")
        ids = populate(server.url, token)
        user, room = ids["user"], ids["room"]
        requests = {
            "list users": ("GET", "/_synapse/admin/v2/users?limit=10", None),
            "user": ("GET", f"/_synapse/admin/v2/users/{user}", None),
            "joined rooms": ("GET", f"/_synapse/admin/v1/users/{user}/joined_rooms", None),
            "devices": ("GET", f"/_synapse/admin/v2/users/{user}/devices", None),
            "is admin": ("GET", f"/_synapse/admin/v1/users/{user}/admin", None),
            "list rooms": ("GET", "/_synapse/admin/v1/rooms", None),
            "room": ("GET", f"/_synapse/admin/v1/rooms/{room}", None),
            "members": ("GET", f"/_synapse/admin/v1/rooms/{room}/members", None),
            "new token": (
                "POST", "/_synapse/admin/v1/registration_tokens/new", {"uses_allowed": 3}
            ),
            "tokens": ("GET", "/_synapse/admin/v1/registration_tokens", None),
            "reports": ("GET", "/_synapse/admin/v1/event_reports", None),
            "version": ("GET", "/_synapse/admin/v1/server_version", None),
            "memberships": ("GET", f"/_synapse/admin/v1/users/{user}/memberships", None),
            "invites sent": (
                "GET", f"/_synapse/admin/v1/users/{user}/sent_invite_count?from_ts=0", None
            ),
            "rooms joined": (
                "GET", f"/_synapse/admin/v1/users/{user}/cumulative_joined_room_count?from_ts=0", None
            ),
            "rate limit set": (
                "POST", f"/_synapse/admin/v1/users/{user}/override_ratelimit",
                {"messages_per_second": 5, "burst_count": 10},
            ),
            "rate limit": ("GET", f"/_synapse/admin/v1/users/{user}/override_ratelimit", None),
            "room messages": ("GET", f"/_synapse/admin/v1/rooms/{room}/messages?limit=5", None),
            "room state": ("GET", f"/_synapse/admin/v1/rooms/{room}/state", None),
            "extremities": ("GET", f"/_synapse/admin/v1/rooms/{room}/forward_extremities", None),
            "room media": ("GET", f"/_synapse/admin/v1/room/{room}/media", None),
            "first event": (
                "GET", f"/_synapse/admin/v1/rooms/{room}/timestamp_to_event?ts=0&dir=f", None
            ),
            "purge": (
                "POST", f"/_synapse/admin/v1/purge_history/{room}",
                {"purge_up_to_ts": 1, "delete_local_events": False},
            ),
            "tasks": ("GET", "/_synapse/admin/v1/scheduled_tasks", None),
            "whois": ("GET", f"/_synapse/admin/v1/whois/{user}", None),
            "user media": ("GET", f"/_synapse/admin/v1/users/{user}/media", None),
            "pushers": ("GET", f"/_synapse/admin/v1/users/{user}/pushers", None),
            "account data": ("GET", f"/_synapse/admin/v1/users/{user}/accountdata", None),
            "media statistics": ("GET", "/_synapse/admin/v1/statistics/users/media", None),
            "destinations": ("GET", "/_synapse/admin/v1/federation/destinations", None),
            "hierarchy": ("GET", f"/_synapse/admin/v1/rooms/{room}/hierarchy", None),
            "block status": ("GET", f"/_synapse/admin/v1/rooms/{room}/block", None),
            "redact": ("POST", f"/_synapse/admin/v1/user/{user}/redact", {"rooms": []}),
            "delete room": ("DELETE", f"/_synapse/admin/v2/rooms/{room}", {"block": True}),
        }
        answers[name] = {}
        for label, (method, path, body) in requests.items():
            status, answer = call(server.url, method, path, token, body)
            assert status == 200, f"{name} {label}: {status} {answer}"
            answers[name][label] = answer
    problems = []
    for label, synapse_answer in answers["synapse"].items():
        # Synapse-only details that tools do not depend on.
        if label == "version":
            synapse_answer.pop("python_version", None)
        if label == "whois":
            # Keyed by device: Synapse puts every connection under "", Myelin (as the spec's
            # example) under each device id; what is inside has the same shape.
            for answer in (synapse_answer, answers["myelin"][label]):
                answer["devices"] = list(answer["devices"].values())
        if label == "memberships":
            # Keyed by room id: the ids differ, the values are what has a shape.
            for answer in (synapse_answer, answers["myelin"][label]):
                answer["memberships"] = list(answer["memberships"].values())
        problems += same_shape(synapse_answer, answers["myelin"][label], label)
    assert not problems, "\n".join(problems)
