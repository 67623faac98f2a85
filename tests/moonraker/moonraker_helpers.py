"""Helpers of the Moonraker printer-API tests: a host on the virtual printer and a ready client."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moonlite.testing import RpcClient, RunningHost, running_host

SHARED_GCODE = Path(__file__).resolve().parents[2].parent / "shared" / "gcode"
TIMEOUT = 30.0


def host_config(time_scale: float = 0.01, extra: str = "") -> str:
    """A moonlite.conf with the built-in virtual printer and the components frontends use.

    `interval_scale` shortens the firmware's periodic reports (M155 every 2 s becomes 0.1 s)
    so that temperature changes show within a short print.
    """
    return (f"[printer]\nport: virtual\nreconnect_interval: 0.2\n\n"
            f"[virtual_printer]\ntime_scale: {time_scale}\ninterval_scale: 0.05\n\n"
            "[file_manager]\n\n[history]\n\n[data_store]\n\n[webcam]\n\n" + extra)


@dataclass
class PrinterHost:
    """A running host, its printer component and one websocket client."""

    running: RunningHost
    printer: Any
    client: RpcClient
    gcodes: Path


async def wait_ready(client: RpcClient, timeout: float = TIMEOUT) -> dict[str, Any]:
    """printer.info once the printer is ready (waiting for notify_klippy_ready if need be)."""
    async with asyncio.timeout(timeout):
        info: dict[str, Any] = await client.call("printer.info")
        while info["state"] != "ready":
            await client.next_notification("notify_klippy_ready", timeout)
            info = await client.call("printer.info")
        return info


@contextlib.asynccontextmanager
async def printer_host(data_dir: Path, time_scale: float = 0.01, extra: str = "",
                       files: tuple[str, ...] = ()) -> AsyncIterator[PrinterHost]:
    """Start a host on the virtual printer, copy `files` into gcodes, connect a client."""
    gcodes = data_dir / "gcodes"
    gcodes.mkdir(parents=True, exist_ok=True)
    for name in files:
        shutil.copy(SHARED_GCODE / name, gcodes / name)
    async with running_host(data_dir, host_config(time_scale, extra)) as running, \
            RpcClient.connect(running.ws_url) as client:
        printer = running.host.get_component("printer")
        await wait_ready(client)
        yield PrinterHost(running, printer, client, gcodes)


def net_extrusion(path: Path) -> float:
    """The file's net extrusion in mm, computed independently of moonlite (M82/M83/G92)."""
    absolute = True
    e = total = 0.0
    for raw in path.read_text().splitlines():
        words = raw.partition(";")[0].split()
        if not words:
            continue
        code = words[0].upper()
        if code in ("M82", "G90"):
            absolute = True
        elif code in ("M83", "G91"):
            absolute = False
        elif code == "G92":
            e = next((float(w[1:]) for w in words[1:] if w[0] in "Ee"), e)
        elif code in ("G0", "G1", "G2", "G3"):
            for word in words[1:]:
                if word[0] in "Ee":
                    value = float(word[1:])
                    delta = value - e if absolute else value
                    e += delta
                    total += delta
    return total


async def status_updates_until(client: RpcClient, done: Any, timeout: float = TIMEOUT
                               ) -> list[tuple[dict[str, Any], float]]:
    """Collect notify_status_update params until `done(diff)` is true for one of them."""
    updates: list[tuple[dict[str, Any], float]] = []
    async with asyncio.timeout(timeout):
        while True:
            note = await client.next_notification("notify_status_update", timeout)
            diff, eventtime = note["params"]
            updates.append((diff, eventtime))
            if done(diff):
                return updates
