"""Helpers for the printer-link tests: recorder of link reports, rig, fault-test settings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Callable, Iterable
from typing import Any

from moonlite.components.printer.protocol import MarlinProtocol
from moonlite.components.printer.state import PrinterState
from moonlite.components.printer.stream import StreamJob

from moonlite.testing import wait_until
from moonlite.virtual_printer.printer import VirtualPrinter

#: what the link sends after a timeout to resynchronise (M114 with ADVANCED_OK, else M105)
PROBES = frozenset({"M105", "M114"})

#: tight timeouts so fault tests finish quickly (the firmware answers within milliseconds)
FAST = {
    "timeout_connection": 3.0,
    "timeout_communication": 1.0,
    "timeout_communication_busy": 1.0,
    "timeout_resend_ok": 0.2,
    "timeout_resend_check": 0.2,
    "temperature_poll": 0,
}


class Recorder:
    """Collects what a link reports and lets tests wait for a condition without sleeping."""

    def __init__(self, link: MarlinProtocol) -> None:
        self.lines: list[str] = []
        self.states: list[PrinterState] = []
        self.errors: list[tuple[str, bool]] = []
        self.actions: list[tuple[str, str]] = []
        self.temperatures: list[dict[str, Any]] = []
        self.positions: list[dict[str, float]] = []
        self.resets = 0
        self._changed = asyncio.Event()
        ls = link.listeners
        ls.line.append(lambda line: self._add(self.lines, line))
        ls.state.append(lambda _old, new: self._add(self.states, new))
        ls.error.append(lambda message, fatal: self._add(self.errors, (message, fatal)))
        ls.action.append(lambda name, args: self._add(self.actions, (name, args)))
        ls.temperature.append(lambda temps: self._add(self.temperatures, temps))
        ls.position.append(lambda pos: self._add(self.positions, pos))
        ls.reset.append(self._on_reset)

    def _add(self, target: list[Any], item: Any) -> None:
        target.append(item)
        self._changed.set()

    def _on_reset(self) -> None:
        self.resets += 1
        self._changed.set()

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until `condition()` holds (re-checked whenever the link reports something)."""
        await wait_until(condition, self._changed, timeout)


def without_fragments(executed: list[str]) -> tuple[list[str], int]:
    """Drop line fragments the firmware ran as (unknown) commands; return (rest, count).

    After a line error Marlin flushes its receive buffer; the rest of a line that was arriving
    then is read as an unnumbered line, which Marlin does not check. Ours all end in `*<cs>`,
    so a fragment has a `*`; one that starts like a command would be a real duplicate and is
    kept (and fails the comparison).
    """
    kept = [c for c in executed if "*" not in c or c[:1] in ("G", "M", "T")]
    return kept, len(executed) - len(kept)


class Rig:
    """A connected link, its recorder and the virtual printer behind it."""

    def __init__(self, link: MarlinProtocol, printer: VirtualPrinter, server: Any) -> None:
        self.link = link
        self.printer = printer
        self.server = server
        self.rec = Recorder(link)

    async def stream_to_end(
        self, source: Iterable[str] | AsyncIterable[str], timeout: float = 60.0
    ) -> tuple[StreamJob, list[str]]:
        """Stream `source` until the job is done; return it and the commands run meanwhile."""
        start = len(self.printer.executed)
        job = self.link.start_stream(source)
        assert await asyncio.wait_for(job.done, timeout) == "done"
        return job, self.printer.executed[start:]


RigFactory = Callable[..., Any]


