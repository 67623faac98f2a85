"""Home Assistant's client, the `moonraker-api` package, driving moonlite over a real socket."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from core_api_client import open_api
from moonraker_api import MoonrakerClient, MoonrakerListener
from moonraker_api.const import WEBSOCKET_STATE_CONNECTED

TIMEOUT = 10.0


class Listener(MoonrakerListener):
    """Collects state changes and notifications."""

    def __init__(self) -> None:
        self.states: list[str] = []
        self.notifications: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    async def state_changed(self, state: str) -> None:
        """Record a connection state."""
        self.states.append(state)

    async def on_notification(self, method: str, data: Any) -> None:
        """Queue a notification."""
        self.notifications.put_nowait((method, data))


@pytest.mark.parametrize("mode", ["trusted", "api_key"])
async def test_moonraker_api_client(tmp_path: Path, mode: str) -> None:
    async with open_api(tmp_path / "data", mode) as api, aiohttp.ClientSession() as session:
        listener = Listener()
        client = MoonrakerClient(
            listener, "127.0.0.1", api.running.port,
            api_key=api.running.host.auth.api_key if mode == "api_key" else None,
            loop=asyncio.get_running_loop(), timeout=int(TIMEOUT), session=session)
        assert await client.connect()
        try:
            assert client.state == WEBSOCKET_STATE_CONNECTED
            ident = await client.call_method(
                "server.connection.identify", client_name="Home Assistant",
                version="2026.11", type="other", url="https://www.home-assistant.io")
            assert ident["connection_id"] == (await client.get_websocket_id())["websocket_id"]
            conn = api.running.host.websockets.connections[ident["connection_id"]]
            assert conn.client_name == "Home Assistant"

            info = await client.get_server_info()
            assert info["api_version"] == [1, 5, 0]
            assert info["websocket_count"] == 1
            assert await client.get_klipper_status() == "disconnected"

            posted = await client.call_method(
                "server.database.post_item", namespace="homeassistant", key="panel.order",
                value=[3, 1, 2])
            assert posted["value"] == [3, 1, 2]
            got = await client.call_method("server.database.get_item",
                                           namespace="homeassistant", key="panel")
            assert got == {"namespace": "homeassistant", "key": "panel",
                           "value": {"order": [3, 1, 2]}}
            # the client hands errors back as {"error": ...}
            missing = await client.call_method("server.database.get_item", namespace="none")
            assert missing["error"]["code"] == -32601
            # notifications reach the listener
            api.running.host.notify("notify_gcode_response", "echo: hello")
            method, data = await asyncio.wait_for(listener.notifications.get(), TIMEOUT)
            assert (method, data) == ("notify_gcode_response", ["echo: hello"])
        finally:
            await client.disconnect()
        assert WEBSOCKET_STATE_CONNECTED in listener.states
