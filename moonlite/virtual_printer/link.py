"""The wire between host and virtual board: baud-rate pacing and latency, both directions."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable

from moonlite.virtual_printer.printer import VirtualPrinter

# The event loop's epoll waits in whole milliseconds, rounded up, so a sleep overshoots by
# half a millisecond on average; aiming that much early makes delivery times unbiased.
_TIMER_BIAS = 0.0005


class PacedPipe:
    """Delivers byte chunks to `sink` in order, as a serial line at `baudrate` would.

    Each chunk occupies the line for len * 10 / baudrate seconds (8N1) after the previous one
    and arrives `latency` seconds after it finished. Deadlines are absolute, so timer
    granularity never accumulates. Without pacing or latency chunks go straight through.
    """

    def __init__(self, sink: Callable[[bytes], None], baudrate: int | None, latency: float) -> None:
        self._sink = sink
        self._byte_time = 10.0 / baudrate if baudrate else 0.0
        self._latency = max(0.0, latency)
        self._queue: deque[tuple[float, bytes]] = deque()
        self._free_at = 0.0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def paced(self) -> bool:
        """Whether this pipe delays anything."""
        return bool(self._byte_time or self._latency)

    def send(self, data: bytes) -> None:
        """Put `data` on the wire."""
        if not self.paced:
            self._sink(data)
            return
        now = time.monotonic()
        self._free_at = max(now, self._free_at) + len(data) * self._byte_time
        self._queue.append((self._free_at + self._latency, data))
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        self._wake.set()

    async def _run(self) -> None:
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            due, data = self._queue[0]
            delay = due - time.monotonic() - _TIMER_BIAS
            if delay > 0:
                await asyncio.sleep(delay)
            self._queue.popleft()
            self._sink(data)

    def clear(self) -> None:
        """Forget everything still on the wire."""
        self._queue.clear()
        self._free_at = 0.0

    async def close(self) -> None:
        """Stop delivering."""
        self.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


class PrinterLink:
    """Connects a `VirtualPrinter` to a host-facing byte sink through two paced pipes.

    `to_host(data)` receives output lines (with `\\n`); `on_drop()` is called when the
    firmware drops the link (fault injection). Call `from_host(data)` with received bytes.
    """

    def __init__(
        self,
        printer: VirtualPrinter,
        to_host: Callable[[bytes], None],
        on_drop: Callable[[], None],
    ) -> None:
        self.printer = printer
        o = printer.options
        self._up = PacedPipe(printer.receive, o.baudrate, o.latency)
        self._down = PacedPipe(to_host, o.baudrate, o.latency)
        self._on_drop = on_drop
        self._pump: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Open the link: the board sees a connect (and resets, like DTR does)."""
        self.printer.link_owner = self
        self.printer.connect()
        self._pump = asyncio.get_running_loop().create_task(self._pump_output())

    def from_host(self, data: bytes) -> None:
        """Bytes written by the host."""
        self._up.send(data)

    async def _pump_output(self) -> None:
        while True:
            line = await self.printer.read_output()
            if line is None:
                self._on_drop()
                return
            self._down.send(line)

    async def stop(self) -> None:
        """Close the link (the board sees a disconnect)."""
        if self._pump is not None and self._pump is not asyncio.current_task():
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
            self._pump = None
        await self._up.close()
        await self._down.close()
        if self.printer.link_owner is self:  # not if a newer link has taken over
            self.printer.link_owner = None
            self.printer.disconnect()
