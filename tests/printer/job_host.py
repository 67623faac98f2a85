"""Helpers for the job-layer tests: a running host with the printer, events, G-code files."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from moonlite.components.printer.component import PrinterComponent

from moonlite.testing import RunningHost, gcode_command_lines, running_host, wait_until
from moonlite.virtual_printer.options import VirtualPrinterOptions
from moonlite.virtual_printer.printer import VirtualPrinter
from moonlite.virtual_printer.pty import PtyServer

GCODE = Path(__file__).resolve().parents[3] / "shared" / "gcode"

#: fast timeouts; the in-process virtual printer with instant moves
CONFIG = """\
[printer]
timeout_communication: 5

[virtual_printer]
time_scale: 0
{extra}
"""


class EventLog:
    """Every event fired on the host, with a way to wait for one."""

    def __init__(self, running: RunningHost) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._changed = asyncio.Event()
        self._unsubscribe = running.host.events.subscribe("*", self._on_event)

    def _on_event(self, event: str, payload: dict[str, Any]) -> None:
        self.events.append((event, payload))
        self._changed.set()

    def named(self, name: str) -> list[dict[str, Any]]:
        """Payloads of every `name` event so far."""
        return [payload for event, payload in self.events if event == name]

    def names(self) -> list[str]:
        """Every event name so far, in order."""
        return [event for event, _ in self.events]

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 20.0) -> None:
        """Wait until `condition()` holds (checked after every event)."""
        await wait_until(condition, self._changed, timeout)

    async def wait_event(self, name: str, count: int = 1, timeout: float = 20.0
                         ) -> dict[str, Any]:
        """Wait for the `count`-th `name` event; return its payload."""
        await self.wait_for(lambda: len(self.named(name)) >= count, timeout)
        return self.named(name)[count - 1]


#: commands other components send on their own (status queries at connect, polls)
HOUSEKEEPING = frozenset({"M110", "M503", "M105", "M115", "M155", "M154", "M27", "M119", "M113"})


def job_lines(executed: list[str]) -> list[str]:
    """`executed` without the housekeeping commands other components may interleave."""
    return [line for line in executed if line.split(None, 1)[0] not in HOUSEKEEPING]


def command_lines(path: Path) -> list[str]:
    """The command lines of a G-code file as the host sends them (no comments or blanks)."""
    out = gcode_command_lines(path)
    assert not HOUSEKEEPING & {line.split(None, 1)[0] for line in out}
    return out


@contextlib.asynccontextmanager
async def printer_host(data_dir: Path, extra: str = "", files: tuple[str, ...] = (),
                       config: str | None = None
                       ) -> AsyncIterator[tuple[RunningHost, PrinterComponent, EventLog]]:
    """A running host with the printer connected to the built-in virtual printer."""
    gcodes = data_dir / "gcodes"
    gcodes.mkdir(parents=True, exist_ok=True)
    for name in files:
        shutil.copy(GCODE / name, gcodes / name)
    text = config if config is not None else CONFIG.format(extra=extra)
    async with running_host(data_dir, text) as running:
        printer = running.host.get_component("printer")
        assert isinstance(printer, PrinterComponent)
        log = EventLog(running)
        await wait_operational(printer)
        yield running, printer, log


@contextlib.asynccontextmanager
async def pty_printer(tmp_path: Path, options: VirtualPrinterOptions
                      ) -> AsyncIterator[tuple[VirtualPrinter, str]]:
    """A virtual printer behind a real pty: yields it and the pty's path."""
    printer_fw = VirtualPrinter(options)
    server = PtyServer(printer_fw, link_path=tmp_path / "ttyVIRTUAL")
    path = await server.start()
    try:
        yield printer_fw, path
    finally:
        await server.close()
        await printer_fw.close()


async def wait_operational(printer: PrinterComponent, timeout: float = 10.0) -> None:
    """Wait until the link is OPERATIONAL and idle (checked on every state change)."""
    changed = asyncio.Event()

    def on_state(_old: Any, _new: Any) -> None:
        changed.set()

    printer.link.listeners.state.append(on_state)
    try:
        await wait_until(
            lambda: printer.link.is_operational and printer.get_state_id() == "OPERATIONAL",
            changed, timeout)
    finally:
        printer.link.listeners.state.remove(on_state)
