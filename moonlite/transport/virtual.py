"""In-process transport to a `VirtualPrinter` (with the printer's own pacing and latency)."""

from __future__ import annotations

import asyncio

from moonlite.transport.base import Transport, TransportClosed
from moonlite.virtual_printer.link import PrinterLink
from moonlite.virtual_printer.options import VirtualPrinterOptions
from moonlite.virtual_printer.printer import VirtualPrinter


class VirtualTransport(Transport):
    """A link to a virtual Marlin board in the same event loop.

    Opening it is a connect (the board resets and prints `start` unless its options say
    otherwise); a firmware-side disconnect (fault injection) makes `readline` raise
    `TransportClosed`, and `open()` again reconnects. A printer created here (from `options`)
    is stopped when the transport closes; one passed in is left running.
    """

    name = "VIRTUAL"

    def __init__(
        self, printer: VirtualPrinter | None = None, options: VirtualPrinterOptions | None = None
    ) -> None:
        self.printer = printer if printer is not None else VirtualPrinter(options)
        self._owns_printer = printer is None  # then closing the link powers it off
        self._link: PrinterLink | None = None
        self._lines: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._open = False
        self._stopping: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Connect to the board."""
        if self._open:
            return
        if self._stopping is not None:
            await self._stopping
            self._stopping = None
        self._lines = asyncio.Queue()
        self._link = PrinterLink(self.printer, self._lines.put_nowait, self._on_drop)
        self._open = True
        self._link.start()

    def _on_drop(self) -> None:
        self._open = False
        self._lines.put_nowait(None)
        link, self._link = self._link, None
        if link is not None:
            self._stopping = asyncio.get_running_loop().create_task(link.stop())

    async def readline(self) -> bytes:
        """The next line from the board, without its terminator."""
        if not self._open and self._lines.empty():
            raise TransportClosed(self.name)
        line = await self._lines.get()
        if line is None:
            raise TransportClosed(self.name)
        return line.rstrip(b"\r\n")

    async def write(self, data: bytes) -> None:
        """Send bytes to the board."""
        if not self._open or self._link is None:
            raise TransportClosed(self.name)
        self._link.from_host(data)

    async def close(self) -> None:
        """Disconnect (the board keeps running; a pending `readline` raises)."""
        if not self._open:
            return
        self._open = False
        self._lines.put_nowait(None)
        link, self._link = self._link, None
        if link is not None:
            await link.stop()
        if self._owns_printer:
            await self.printer.close()

    @property
    def is_open(self) -> bool:
        """Whether the link is up."""
        return self._open
