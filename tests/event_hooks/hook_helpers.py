"""Shared pieces of the event hook tests: a recording stand-in for the printer component."""

from __future__ import annotations

import asyncio
from typing import Any

from moonlite.components.event_hooks import EventHooks, HookRun

from moonlite.component import Component
from moonlite.config import Section
from moonlite.server import Host
from moonlite.testing import RunningHost


class RecordingPrinter(Component):
    """Stands in for the printer component until it exists: records the G-code it is sent.

    Offers what the event hooks use: `get_current_data()` (PrinterInterface) and `commands()`.
    """

    name = "printer"
    klippy_state = "ready"

    def __init__(self, host: Host) -> None:
        super().__init__(host, None, Section(name="printer"))
        self.current_z: float | None = 0.3
        self.job: dict[str, Any] | None = {"name": "cube.gcode", "path": "sub/cube.gcode",
                                           "origin": "local"}
        self.progress: float | None = 42.7
        self.sent: list[list[str]] = []

    def get_current_data(self) -> dict[str, Any]:
        """What OctoPrint's PrinterInterface reports (the parts the hooks read)."""
        return {"state": {"text": "Printing", "flags": {}, "error": ""},
                "job": {"file": self.job or {"name": None, "path": None, "origin": None}},
                "progress": {"completion": self.progress},
                "currentZ": self.current_z}

    async def commands(self, lines: list[str]) -> None:
        """Record the lines as the printer would receive them."""
        self.sent.append(list(lines))


def hooks_of(running: RunningHost) -> EventHooks:
    """The running host's event_hooks component."""
    comp = running.host.get_component("event_hooks")
    assert isinstance(comp, EventHooks)
    return comp


async def next_run(queue: asyncio.Queue[HookRun], timeout: float = 10.0) -> HookRun:
    """The next finished hook run."""
    return await asyncio.wait_for(queue.get(), timeout)
