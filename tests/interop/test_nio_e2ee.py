"""End-to-end encryption with matrix-nio[e2e] (vodozemac): two clients set up Olm/Megolm
through Myelin's key APIs and to-device messages, and each decrypts what the other encrypted:
on one Myelin, across two Myelin servers, and between Myelin and Synapse."""

import asyncio
import json
import tempfile
import urllib.request

import pytest
from nio import (
    AsyncClient,
    AsyncClientConfig,
    JoinResponse,
    MegolmEvent,
    RegisterResponse,
    RoomCreateResponse,
    RoomMessageText,
    RoomSendResponse,
    SyncResponse,
)

from conftest import federated_myelin

PASSWORD = "correct horse battery"
ENCRYPTION = {
    "type": "m.room.encryption",
    "state_key": "",
    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
}


class E2eeUser:
    """A matrix-nio client with encryption on and its own key store."""

    def __init__(self, url: str, name: str):
        self.store = tempfile.TemporaryDirectory(prefix=f"nio-{name}-")
        config = AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False)
        self.client = AsyncClient(url, name, store_path=self.store.name, config=config)
        self.name = name
        self.since = None

    async def register(self) -> None:
        registered = await self.client.register(self.name, PASSWORD, device_name=f"{self.name} phone")
        assert isinstance(registered, RegisterResponse), registered
        await self.sync()
        assert not self.client.should_upload_keys, "nio thinks its keys are not uploaded"

    async def sync(self) -> SyncResponse:
        response = await self.client.sync(timeout=2000, since=self.since, full_state=self.since is None)
        assert isinstance(response, SyncResponse), response
        self.since = response.next_batch
        # What nio's sync_forever does after each sync: key upload, queries and claims, and
        # sending the to-device messages that share room keys.
        await self.client.send_to_device_messages()
        if self.client.should_upload_keys:
            await self.client.keys_upload()
        if self.client.should_query_keys:
            await self.client.keys_query()
        if self.client.should_claim_keys:
            await self.client.keys_claim(self.client.get_users_for_key_claiming())
        return response

    async def sync_until(self, check, what: str, rounds: int = 30):
        for _ in range(rounds):
            response = await self.sync()
            found = check(response)
            if found:
                return found
        raise AssertionError(f"{self.name}: {what} never arrived")

    async def send_encrypted(self, room_id: str, body: str) -> str:
        response = await self.client.room_send(
            room_id,
            "m.room.message",
            {"msgtype": "m.text", "body": body},
            ignore_unverified_devices=True,
        )
        assert isinstance(response, RoomSendResponse), response
        return response.event_id

    async def receive(self, room_id: str, event_id: str) -> str:
        """Syncs until the event arrives and returns its decrypted body."""

        def check(response: SyncResponse):
            room = response.rooms.join.get(room_id)
            for event in room.timeline.events if room else []:
                if event.event_id != event_id:
                    continue
                assert not isinstance(event, MegolmEvent), f"{self.name} could not decrypt {event}"
                assert isinstance(event, RoomMessageText), event
                assert event.decrypted, "the event was not encrypted"
                return event.body
            return None

        return await self.sync_until(check, f"event {event_id}")

    async def close(self) -> None:
        await self.client.close()
        self.store.cleanup()


async def converse(alice: E2eeUser, bob: E2eeUser) -> None:
    """Alice makes an encrypted room, invites Bob; they exchange messages both ways."""
    created = await alice.client.room_create(
        name="Secrets", invite=[bob.client.user_id], initial_state=[ENCRYPTION]
    )
    assert isinstance(created, RoomCreateResponse), created
    room_id = created.room_id
    await bob.sync_until(lambda response: room_id in response.rooms.invite, "the invite")
    joined = await bob.client.join(room_id)
    assert isinstance(joined, JoinResponse), joined
    await alice.sync_until(
        lambda response: bob.client.user_id in alice.client.rooms[room_id].users
        and alice.client.rooms[room_id].users[bob.client.user_id].invited is False,
        "Bob's join",
    )
    await bob.sync()

    for round_number in range(3):
        sent = await alice.send_encrypted(room_id, f"from alice {round_number}")
        assert await bob.receive(room_id, sent) == f"from alice {round_number}"
        sent = await bob.send_encrypted(room_id, f"from bob {round_number}")
        assert await alice.receive(room_id, sent) == f"from bob {round_number}"

    # The ciphertext is all the server saw.
    raw = stored_event(alice.client, room_id, sent)
    assert raw["type"] == "m.room.encrypted", raw
    assert raw["content"]["algorithm"] == "m.megolm.v1.aes-sha2", raw
    assert "from bob" not in json.dumps(raw), raw


def stored_event(client: AsyncClient, room_id: str, event_id: str) -> dict:
    """The event as the server serves it, fetched without nio's decryption."""
    request = urllib.request.Request(
        f"{client.homeserver}/_matrix/client/v3/rooms/{room_id}/event/{event_id}",
        headers={"Authorization": f"Bearer {client.access_token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


async def scenario(alice_url: str, bob_url: str, suffix: str = "") -> None:
    alice = E2eeUser(alice_url, f"alice{suffix}")
    bob = E2eeUser(bob_url, f"bob{suffix}")
    try:
        await alice.register()
        await bob.register()
        await converse(alice, bob)
    finally:
        await alice.close()
        await bob.close()


def test_encrypted_messages_on_one_server(myelin):
    asyncio.run(scenario(myelin.url, myelin.url))


def test_encrypted_messages_across_two_myelin_servers():
    first = federated_myelin()
    second = federated_myelin()
    try:
        asyncio.run(scenario(first.url, second.url))
    finally:
        first.stop()
        second.stop()


@pytest.mark.parametrize("synapse_side", ["alice", "bob"])
def test_encrypted_messages_between_myelin_and_synapse(synapse, federated, synapse_side):
    # The servers live for the module: each case registers its own users.
    if synapse_side == "alice":
        asyncio.run(scenario(synapse.url, federated.url, "-e2ee-1"))
    else:
        asyncio.run(scenario(federated.url, synapse.url, "-e2ee-2"))
