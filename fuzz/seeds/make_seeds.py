#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/ (run once; the output is committed, then kept small
with `cargo fuzz cmin`). Needs the `cryptography` and `Pillow` packages.

PDUs and X-Matrix headers are signed with the fuzz crate's fixed key (src/keys.rs) as
`origin.example`, so the targets reach their accepting paths and mutations start from there.
"""

import base64
import hashlib
import json
import os
import sys
import urllib.parse
from io import BytesIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SEED = bytes.fromhex("5967e2df5ff2675fa3c32d85a6ac86baff0c894526b90bdfc49af8bc900368d5")
KEY = Ed25519PrivateKey.from_private_bytes(SEED)
ORIGIN = "origin.example"
KEY_ID = "ed25519:fuzz"
CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpus")


def b64(data, urlsafe=False):
    text = base64.b64encode(data).decode().rstrip("=")
    return text.replace("+", "-").replace("/", "_") if urlsafe else text


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def write(target, name, data):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(folder, name), "wb") as file:
        file.write(data)


# --- PDUs ---------------------------------------------------------------------------------------

TOP_V1 = {"event_id", "type", "room_id", "sender", "state_key", "content", "hashes", "signatures",
          "depth", "prev_events", "prev_state", "auth_events", "origin", "origin_server_ts",
          "membership"}
TOP_V11 = TOP_V1 - {"origin", "membership", "prev_state"}


def redact(event, version):
    top = TOP_V11 if version >= 11 else TOP_V1
    out = {key: value for key, value in event.items() if key in top}
    content = event.get("content", {})
    kind = event.get("type")
    keep = {
        "m.room.create": None if version >= 11 else ["creator"],
        "m.room.member": ["membership", "join_authorised_via_users_server"],
        "m.room.join_rules": ["join_rule", "allow"],
        "m.room.power_levels": ["ban", "events", "events_default", "kick", "redact",
                                "state_default", "users", "users_default"]
        + (["invite"] if version >= 11 else []),
        "m.room.history_visibility": ["history_visibility"],
        "m.room.redaction": ["redacts"] if version >= 11 else [],
    }.get(kind, [])
    out["content"] = dict(content) if keep is None else {
        key: value for key, value in content.items() if key in keep}
    return out


def finish(event, version):
    """Adds the content hash and our signature; returns (event, event id)."""
    bare = {k: v for k, v in event.items() if k not in ("unsigned", "signatures", "hashes")}
    event["hashes"] = {"sha256": b64(hashlib.sha256(canonical(bare)).digest())}
    signed = redact(event, version)
    signed.pop("signatures", None)
    signed.pop("unsigned", None)
    event["signatures"] = {ORIGIN: {KEY_ID: b64(KEY.sign(canonical(signed)))}}
    if version < 3:
        return event, event["event_id"]
    reference = redact(event, version)
    reference.pop("signatures", None)
    reference.pop("unsigned", None)
    digest = hashlib.sha256(canonical(reference)).digest()
    return event, "$" + b64(digest, urlsafe=version >= 4)


def room_events(version):
    alice = f"@alice:{ORIGIN}"
    ts = 1_700_000_000_000
    events = []
    counter = [0]

    def make(kind, content, prev, auth, state_key=None, room_id=None, extra=None):
        counter[0] += 1
        event = {"type": kind, "sender": alice, "content": content, "depth": counter[0],
                 "origin_server_ts": ts + counter[0], "auth_events": [], "prev_events": []}
        if version < 11:
            event["origin"] = ORIGIN
        if room_id is not None:
            event["room_id"] = room_id
        if state_key is not None:
            event["state_key"] = state_key
        if version < 3:
            event["event_id"] = f"$e{counter[0]}:{ORIGIN}"
            ref = lambda id_: [id_, {"sha256": "abc"}]
        else:
            ref = lambda id_: id_
        event["prev_events"] = [ref(p) for p in prev]
        event["auth_events"] = [ref(a) for a in auth]
        event.update(extra or {})
        event["unsigned"] = {"age": 5}
        event, event_id = finish(event, version)
        events.append(event)
        return event_id

    create_content = {"room_version": str(version)}
    if version < 11:
        create_content["creator"] = alice
    room_id = None if version >= 12 else f"!room{version}:{ORIGIN}"
    create = make("m.room.create", create_content, [], [], "", room_id)
    if version >= 12:
        room_id = "!" + create[1:]
    creates = [] if version >= 12 else [create]
    member = make("m.room.member", {"membership": "join", "displayname": "Alice"}, [create],
                  creates, alice, room_id)
    power = make("m.room.power_levels", {"users": {alice: 100}, "events_default": 0,
                                         "state_default": 50}, [member], creates + [member],
                 "", room_id)
    rules = make("m.room.join_rules", {"join_rule": "public"}, [power],
                 creates + [member, power], "", room_id)
    message = make("m.room.message", {"msgtype": "m.text", "body": "hello \u00e9 \U0001F600"},
                   [rules], creates + [member, power], None, room_id)
    # `redacts` is in the content from v11, at the top level before.
    if version >= 11:
        make("m.room.redaction", {"reason": "spam", "redacts": message}, [message],
             creates + [member, power], None, room_id)
    else:
        make("m.room.redaction", {"reason": "spam"}, [message], creates + [member, power], None,
             room_id, {"redacts": message})
    return events


def pdus():
    for version in (1, 3, 10, 11, 12):
        for index, event in enumerate(room_events(version)):
            write("pdu", f"v{version}-{index}-{event['type']}.json", canonical(event))
    write("pdu", "not-an-object.json", "[1, 2, 3]")
    write("pdu", "minimal.json", '{"type":"m.room.message","content":{},"depth":1}')


# --- Canonical JSON -----------------------------------------------------------------------------

def canonical_seeds():
    samples = {
        "empty-object": "{}",
        "nested": '{"b":{"d":[1,2,{"z":null,"a":true}],"c":"x"},"a":-9007199254740991}',
        "unicode": '{"\u00e9t\u00e9":"\\u00e9\\ud83d\\ude00","\\u0000":"\\n\\t\\"\\\\"}',
        "big-int": '{"max":9007199254740991,"min":-9007199254740991}',
        "float": '{"a":1.5}',
        "array": '[1,"two",[3],{"four":4}]',
        "string": '"plain"',
        "signatures-bad": '{"a":1,"signatures":{"origin.example":{"ed25519:fuzz":"AAAA"}}}',
        "signatures-not-object": '{"a":1,"signatures":[1]}',
    }
    for name, text in samples.items():
        write("canonical_json", name + ".json", text)
    signed = {"content": {"a": [1, 2]}, "origin": ORIGIN}
    signed["signatures"] = {ORIGIN: {KEY_ID: b64(KEY.sign(canonical(signed)))}}
    write("canonical_json", "signed.json", canonical(signed))
    for index, event in enumerate(room_events(11)[:2]):
        write("canonical_json", f"event-{index}.json", canonical(event))


# --- X-Matrix -----------------------------------------------------------------------------------

def xmatrix_seeds():
    uri = "/_matrix/federation/v1/send/fuzz"
    bodies = [b"", b'{"origin":"origin.example","pdus":[],"edus":[]}']
    for index, body in enumerate(bodies):
        obj = {"method": "PUT", "uri": uri, "origin": ORIGIN, "destination": "myelin.example"}
        if body:
            obj["content"] = json.loads(body)
        sig = b64(KEY.sign(canonical(obj)))
        header = (f'X-Matrix origin="{ORIGIN}",destination="myelin.example",'
                  f'key="{KEY_ID}",sig="{sig}"')
        write("xmatrix", f"signed-{index}", header.encode() + b"\n" + body)
    samples = {
        "no-destination": 'X-Matrix origin=origin.example,key="ed25519:fuzz",sig="AAAA"\n{}',
        "unquoted": "X-Matrix origin=origin.example,destination=myelin.example,"
                    "key=ed25519:fuzz,sig=ABCD",
        "escaped": 'X-Matrix origin="origin\\.example",key="ed25519:a\\"b",sig="AA=="',
        "duplicate": 'X-Matrix origin="a.example",origin="b.example",key="ed25519:k",sig="AA"',
        "denied": 'X-Matrix origin="denied.example",key="ed25519:k",sig="AAAA"\n{}',
        "port-ipv6": 'X-Matrix origin="[::1]:8448",destination="myelin.example:443",'
                     'key="ed25519:k",sig="AAAA"',
        "other-scheme": 'Bearer abc, X-Matrix origin="o.example",key="ed25519:k",sig="AAAA"',
        "missing-sig": 'X-Matrix origin="o.example",key="ed25519:k"',
        "lowercase": 'x-matrix ORIGIN="o.example",KEY="ed25519:k",SIG="AAAA",extra="1"',
    }
    for name, text in samples.items():
        write("xmatrix", name, text)


# --- Client requests ----------------------------------------------------------------------------

def client_seeds():
    bodies = {
        0: {
            "create-minimal": "{}",
            "create-full": json.dumps({
                "visibility": "public", "room_alias_name": "fuzz", "name": "Fuzz",
                "topic": "t", "invite": ["@bob:example.org"], "room_version": "11",
                "preset": "public_chat", "is_direct": False,
                "creation_content": {"m.federate": False, "type": "m.space"},
                "initial_state": [{"type": "m.room.encryption", "state_key": "",
                                   "content": {"algorithm": "m.megolm.v1.aes-sha2"}}],
                "power_level_content_override": {"users": {"@bob:example.org": 50}},
                "invite_3pid": [{"id_server": "id.example", "id_access_token": "x",
                                 "medium": "email", "address": "a@example.org"}],
            }),
            "create-empty-body": "",
        },
        1: {
            "login-password": json.dumps({"type": "m.login.password", "identifier": {
                "type": "m.id.user", "user": "alice"}, "password": "secret",
                "device_id": "DEV", "initial_device_display_name": "x"}),
            "login-legacy-user": '{"type":"m.login.password","user":"alice","password":"p"}',
            "login-token": '{"type":"m.login.token","token":"abc"}',
            "login-no-type": '{"password":"p"}',
            "login-type-not-string": '{"type":5}',
            "login-appservice": '{"type":"m.login.application_service","identifier":'
                                '{"type":"m.id.user","user":"bridge"}}',
            "login-array": "[]",
        },
    }
    filters = {
        "filter-empty": "{}",
        "filter-full": json.dumps({
            "event_fields": ["content.body", "type"], "event_format": "client",
            "presence": {"types": ["m.presence"], "not_senders": ["@x:example.org"]},
            "account_data": {"limit": 5, "types": ["m.*"]},
            "room": {
                "rooms": ["!room:example.org"], "not_rooms": ["!bad:example.org"],
                "include_leave": True,
                "timeline": {"limit": 10, "types": ["m.room.*", "org.*.custom"],
                             "not_types": ["m.room.member"], "senders": ["@alice:example.org"],
                             "contains_url": True, "lazy_load_members": True},
                "state": {"lazy_load_members": True, "include_redundant_members": True,
                          "not_senders": ["@bob:example.org"]},
                "ephemeral": {"types": ["m.typing", "m.receipt"]},
                "account_data": {"not_types": ["*"]},
            },
        }),
        "filter-wildcards": '{"room":{"timeline":{"types":["*","m.*.*","a*a*a*a*b"]}}}',
    }
    bodies[2] = filters
    bodies[3] = filters
    for selector, named in bodies.items():
        for name, body in named.items():
            write("client_request", f"{selector}-{name}", bytes([selector]) + body.encode())
    patterns = [("m.room.*", "m.room.message"), ("*", ""), ("m.*.message", "m.room.message"),
                ("a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaa"), ("\u00e9*", "\u00e9t\u00e9"),
                ("m.reaction", "m.reaction"), ("[*](", "[x]("), ("**", "\n")]
    for index, (pattern, kind) in enumerate(patterns):
        write("client_request", f"4-pattern-{index}",
              b"\x04" + pattern.encode() + b"\x00" + kind.encode())


# --- Images -------------------------------------------------------------------------------------

def image_seeds():
    from PIL import Image

    picture = Image.new("RGBA", (40, 24))
    for x in range(40):
        for y in range(24):
            picture.putpixel((x, y), (x * 6, y * 10, (x * y) % 255, 128 + x))
    small = Image.new("RGB", (4, 4), (200, 10, 10))
    saves = [
        ("rgba.png", picture, "PNG", {}),
        ("small.png", small, "PNG", {}),
        ("palette.png", picture.convert("P"), "PNG", {}),
        ("gray.png", picture.convert("L"), "PNG", {}),
        ("photo.jpg", picture.convert("RGB"), "JPEG", {"quality": 50}),
        ("progressive.jpg", picture.convert("RGB"), "JPEG", {"progressive": True}),
        ("gray.jpg", picture.convert("L"), "JPEG", {}),
        ("anim.gif", picture.convert("P"), "GIF", {"save_all": True, "append_images": [
            small.convert("P")], "duration": 10, "loop": 0}),
        ("lossy.webp", picture, "WEBP", {"quality": 30}),
        ("lossless.webp", small, "WEBP", {"lossless": True}),
    ]
    for name, image, fmt, options in saves:
        out = BytesIO()
        image.save(out, fmt, **options)
        write("thumbnail", name, out.getvalue())


if __name__ == "__main__":
    pdus()
    canonical_seeds()
    xmatrix_seeds()
    client_seeds()
    image_seeds()
    print("seeds written to", os.path.normpath(CORPUS), file=sys.stderr)
