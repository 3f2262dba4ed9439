"""matrix-nio against a real Myelin: two users make a DM, exchange 100 messages, page the whole
history back, see typing and read receipts, edit, react, reply in a thread, redact, and leave."""

import asyncio

from nio import (
    AsyncClient,
    JoinResponse,
    MessageDirection,
    ReceiptEvent,
    RegisterResponse,
    RoomCreateResponse,
    RoomLeaveResponse,
    RoomMessagesResponse,
    RoomMessageText,
    RoomRedactResponse,
    RoomSendResponse,
    SyncResponse,
    TypingNoticeEvent,
)

PASSWORD = "correct horse battery"


def test_dm_conversation_end_to_end(myelin):
    asyncio.run(_scenario(myelin.url))


async def _client(url: str, name: str) -> AsyncClient:
    client = AsyncClient(url, name)
    registered = await client.register(name, PASSWORD, device_name=f"{name} laptop")
    assert isinstance(registered, RegisterResponse), registered
    client.access_token = registered.access_token
    client.user_id = registered.user_id
    client.device_id = registered.device_id
    return client


async def _send(client: AsyncClient, room_id: str, content: dict, kind: str = "m.room.message") -> str:
    response = await client.room_send(room_id, kind, content)
    assert isinstance(response, RoomSendResponse), response
    return response.event_id


async def _ephemeral(client: AsyncClient, room_id: str, event_type, since: str):
    """Syncs until an ephemeral event of `event_type` arrives; returns it and the next token."""
    for _ in range(10):
        sync = await client.sync(timeout=5000, since=since)
        assert isinstance(sync, SyncResponse), sync
        since = sync.next_batch
        room = sync.rooms.join.get(room_id)
        for event in room.ephemeral if room else []:
            if isinstance(event, event_type):
                return event, since
    raise AssertionError(f"no {event_type.__name__} arrived")


async def _scenario(url: str) -> None:
    alice = await _client(url, "alice")
    bob = await _client(url, "bob")

    created = await alice.room_create(is_direct=True, invite=[bob.user_id], name="Alice & Bob")
    assert isinstance(created, RoomCreateResponse), created
    room_id = created.room_id
    bob_sync = await bob.sync(timeout=5000)
    assert isinstance(bob_sync, SyncResponse), bob_sync
    assert room_id in bob_sync.rooms.invite
    joined = await bob.join(room_id)
    assert isinstance(joined, JoinResponse), joined

    for index in range(100):
        sender = alice if index % 2 == 0 else bob
        await _send(sender, room_id, {"msgtype": "m.text", "body": f"message {index}"})

    # Page the whole history back with nio's own pagination.
    first = await alice.sync(timeout=0, full_state=True)
    assert isinstance(first, SyncResponse), first
    timeline = first.rooms.join[room_id].timeline
    bodies = [event.body for event in timeline.events if isinstance(event, RoomMessageText)]
    token = timeline.prev_batch
    while token:
        page = await alice.room_messages(room_id, start=token, direction=MessageDirection.back, limit=30)
        assert isinstance(page, RoomMessagesResponse), page
        bodies = [event.body for event in page.chunk if isinstance(event, RoomMessageText)][::-1] + bodies
        token = page.end if page.chunk else None
    assert bodies == [f"message {index}" for index in range(100)]

    # Typing and read receipts reach the other side.
    since = (await bob.sync(timeout=0)).next_batch
    await alice.room_typing(room_id, typing_state=True, timeout=10_000)
    typing, since = await _ephemeral(bob, room_id, TypingNoticeEvent, since)
    assert typing.users == [alice.user_id]
    last = await _send(bob, room_id, {"msgtype": "m.text", "body": "read this"})
    alice_since = (await alice.sync(timeout=0)).next_batch
    await alice.room_read_markers(room_id, fully_read_event=last, read_event=last)
    receipt_event, _ = await _ephemeral(bob, room_id, ReceiptEvent, since)
    assert any(r.event_id == last and r.user_id == alice.user_id for r in receipt_event.receipts)

    # Edit, react, thread reply, redact.
    original = await _send(alice, room_id, {"msgtype": "m.text", "body": "teh typo"})
    await _send(alice, room_id, {
        "msgtype": "m.text", "body": "* the typo",
        "m.new_content": {"msgtype": "m.text", "body": "the typo"},
        "m.relates_to": {"rel_type": "m.replace", "event_id": original},
    })
    await _send(bob, room_id, {"m.relates_to": {"rel_type": "m.annotation", "event_id": original, "key": "👍"}}, "m.reaction")
    await _send(bob, room_id, {"msgtype": "m.text", "body": "in a thread", "m.relates_to": {"rel_type": "m.thread", "event_id": original}})
    mistake = await _send(bob, room_id, {"msgtype": "m.text", "body": "oops, wrong room"})
    redacted = await bob.room_redact(room_id, mistake, reason="mistake")
    assert isinstance(redacted, RoomRedactResponse), redacted

    page = await alice.room_messages(room_id, start=(await alice.sync(timeout=0)).next_batch, direction=MessageDirection.back, limit=10)
    assert isinstance(page, RoomMessagesResponse), page
    by_id = {event.event_id: event for event in page.chunk}
    assert by_id[original].source["unsigned"]["m.relations"]["m.replace"]["content"]["m.new_content"]["body"] == "the typo"
    assert by_id[original].source["unsigned"]["m.relations"]["m.thread"]["count"] == 1
    assert by_id[mistake].source["content"] == {}, "the redacted message keeps no content"
    reactions = [event for event in page.chunk if event.source["type"] == "m.reaction"]
    assert reactions and reactions[0].source["content"]["m.relates_to"]["key"] == "👍"

    # Bob leaves; the room moves to his leave section.
    since = (await bob.sync(timeout=0)).next_batch
    left = await bob.room_leave(room_id)
    assert isinstance(left, RoomLeaveResponse), left
    after = await bob.sync(timeout=5000, since=since)
    assert isinstance(after, SyncResponse), after
    assert room_id in after.rooms.leave

    await alice.close()
    await bob.close()
