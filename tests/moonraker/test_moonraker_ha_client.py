"""Home Assistant's client (`moonraker-api`) drives a print on the virtual printer."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
from moonraker_api import MoonrakerClient, MoonrakerListener
from moonraker_helpers import printer_host

TORUS = "torus_marlin.gcode"
TIMEOUT = 30.0


class Listener(MoonrakerListener):
    """Keeps the latest print_stats state pushed by notify_status_update."""

    def __init__(self) -> None:
        self.states: list[str] = []
        self.changed = asyncio.Event()

    async def state_changed(self, state: str) -> None:
        """Connection state changes are not needed here."""

    async def on_notification(self, method: str, data: Any) -> None:
        """Record print_stats.state changes."""
        if method == "notify_status_update":
            state = data[0].get("print_stats", {}).get("state")
            if state is not None:
                self.states.append(state)
                self.changed.set()

    async def wait_state(self, wanted: str) -> None:
        """Wait until print_stats.state was `wanted`."""
        async with asyncio.timeout(TIMEOUT):
            while wanted not in self.states:
                self.changed.clear()
                await self.changed.wait()


async def query(client: MoonrakerClient, **objects: Any) -> dict[str, Any]:
    reply = await client.call_method("printer.objects.query", objects=objects)
    status: dict[str, Any] = reply["status"]
    return status


async def test_home_assistant_client_prints(tmp_path: Path) -> None:
    async with printer_host(tmp_path / "data", time_scale=0.03, files=(TORUS,)) as ph, \
            aiohttp.ClientSession() as session:
        listener = Listener()
        client = MoonrakerClient(listener, "127.0.0.1", ph.running.port,
                                 loop=asyncio.get_running_loop(), timeout=int(TIMEOUT),
                                 session=session)
        assert await client.connect()
        try:
            assert await client.get_klipper_status() == "ready"
            info = await client.get_host_info()
            assert info["state"] == "ready" and info["app"] == "Klipper"
            modules = await client.get_supported_modules()
            assert modules is not None and {"print_stats", "extruder", "heater_bed",
                                            "toolhead", "display_status"} <= set(modules)
            status = await query(client, print_stats=None, extruder=["temperature", "target"])
            assert status["print_stats"]["state"] == "standby"
            assert set(status["extruder"]) == {"temperature", "target"}

            assert await client.call_method(
                "printer.gcode.script", script="M104 S50\nM117 Home Assistant") == "ok"
            status = await query(client, extruder=["target"], display_status=["message"])
            assert status["extruder"]["target"] == 50.0
            assert status["display_status"]["message"] == "Home Assistant"
            failed = await client.call_method("printer.gcode.script", script="NO_SUCH_CMD")
            assert failed["error"]["code"] == 400
            assert "NO_SUCH_CMD" in failed["error"]["message"]

            await client.call_method("printer.objects.subscribe",
                                     objects={"print_stats": ["state"]})
            assert await client.call_method("printer.print.start", filename=TORUS) == "ok"
            await listener.wait_state("printing")
            assert await client.call_method("printer.print.pause") == "ok"
            await listener.wait_state("paused")
            status = await query(client, pause_resume=None, virtual_sdcard=None)
            assert status["pause_resume"]["is_paused"] is True
            paused_at = status["virtual_sdcard"]["file_position"]
            assert 0 < paused_at < status["virtual_sdcard"]["file_size"]
            assert await client.call_method("printer.print.resume") == "ok"
            listener.states.clear()
            await listener.wait_state("printing")
            assert await client.call_method("printer.print.cancel") == "ok"
            await listener.wait_state("cancelled")
            status = await query(client, print_stats=None, virtual_sdcard=None)
            assert status["print_stats"]["state"] == "cancelled"
            assert status["print_stats"]["filename"] == TORUS
            assert status["virtual_sdcard"]["file_position"] >= paused_at
            assert status["virtual_sdcard"]["is_active"] is False
        finally:
            await client.disconnect()
