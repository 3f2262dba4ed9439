"""matrix-nio, a client library nobody here wrote, against a real Myelin: register, log in,
list devices, set a display name, log out."""

import asyncio

from nio import (
    AsyncClient,
    DevicesResponse,
    LoginError,
    LoginResponse,
    LogoutResponse,
    ProfileGetDisplayNameResponse,
    ProfileSetDisplayNameResponse,
    RegisterResponse,
    WhoamiResponse,
)

PASSWORD = "correct horse battery"


def test_register_login_devices_displayname_logout(myelin):
    asyncio.run(_scenario(myelin.url))


async def _scenario(url: str) -> None:
    first = AsyncClient(url, "alice")
    registered = await first.register("alice", PASSWORD, device_name="nio registration")
    assert isinstance(registered, RegisterResponse), registered
    assert registered.user_id == "@alice:localhost"
    first.access_token = registered.access_token
    first.user_id = registered.user_id
    first.device_id = registered.device_id

    second = AsyncClient(url, "@alice:localhost")
    logged_in = await second.login(PASSWORD, device_name="nio laptop")
    assert isinstance(logged_in, LoginResponse), logged_in
    assert logged_in.device_id != registered.device_id

    whoami = await second.whoami()
    assert isinstance(whoami, WhoamiResponse), whoami
    assert whoami.user_id == "@alice:localhost"
    assert whoami.device_id == logged_in.device_id

    devices = await second.devices()
    assert isinstance(devices, DevicesResponse), devices
    names = {device.id: device.display_name for device in devices.devices}
    assert names == {registered.device_id: "nio registration", logged_in.device_id: "nio laptop"}

    set_name = await second.set_displayname("Alice in Wonderland")
    assert isinstance(set_name, ProfileSetDisplayNameResponse), set_name
    seen = await first.get_displayname("@alice:localhost")
    assert isinstance(seen, ProfileGetDisplayNameResponse), seen
    assert seen.displayname == "Alice in Wonderland"

    logged_out = await second.logout()
    assert isinstance(logged_out, LogoutResponse), logged_out
    devices = await first.devices()
    assert [device.id for device in devices.devices] == [registered.device_id]

    stranger = AsyncClient(url, "alice")
    wrong = await stranger.login("not the password")
    assert isinstance(wrong, LoginError)
    assert wrong.status_code == "M_FORBIDDEN"

    await stranger.close()
    await first.close()
    await second.close()
