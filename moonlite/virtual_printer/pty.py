"""Serve a virtual printer behind a pseudo-terminal, so any serial host can open it."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import struct
import sys
import termios
import tty
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TextIO

from moonlite.virtual_printer.link import PrinterLink
from moonlite.virtual_printer.options import VirtualPrinterOptions
from moonlite.virtual_printer.printer import VirtualPrinter

POLL_INTERVAL = 0.02  # how often a closed pty is checked for a host opening it
RECONNECT_DELAY = 0.2  # after a firmware-side disconnect, before the new pty appears
OPEN_SETTLE = 0.05  # between a host opening the pty and the board's reset


class PtyServer:
    """Runs `printer` on the master side of a pty; hosts open `slave_path` like a serial port.

    Opening the slave is a connect (the board resets and prints `start`, as a DTR reset
    does), closing it a disconnect. A firmware-side disconnect (fault injection) closes the
    pty and opens a new one after a short delay; `link_path`, when given, is a symlink kept
    pointing at the current slave (a stable name, like /dev/serial/by-id/...).
    """

    def __init__(
        self,
        printer: VirtualPrinter,
        link_path: Path | None = None,
        announce: Callable[[str], None] | None = None,
    ) -> None:
        self.printer = printer
        self.link_path = link_path
        self._announce = announce
        self.slave_path = ""
        self.ptys_opened = 0
        self.connected = asyncio.Event()
        self.reopened = asyncio.Event()  # set when a new pty replaced a dropped one
        self._master = -1
        self._link: PrinterLink | None = None
        self._poller: asyncio.Task[None] | None = None
        self._wbuf = bytearray()
        self._closing = False
        self._background: set[asyncio.Task[None]] = set()

    @property
    def path(self) -> str:
        """What a host should open: the symlink when there is one, else the slave."""
        return str(self.link_path) if self.link_path is not None else self.slave_path

    async def start(self) -> str:
        """Create the pty and wait for a host; returns the path to open."""
        self._open_pty()
        return self.path

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        attrs = termios.tcgetattr(slave)
        attrs[4] = attrs[5] = termios.B115200
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        self.slave_path = os.ttyname(slave)
        # closed on our side, so a read on the master says whether a host has it open
        os.close(slave)
        os.set_blocking(master, False)
        # packet mode: the master also learns when the slave flushes its input, which
        # pyserial does on every open(): our stand-in for the DTR pulse that resets a board
        fcntl.ioctl(master, termios.TIOCPKT, struct.pack("i", 1))
        self._master = master
        self.ptys_opened += 1
        if self.link_path is not None:
            tmp = self.link_path.with_name(self.link_path.name + ".tmp")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(self.slave_path)
            tmp.replace(self.link_path)
        if self._announce is not None:
            also = f" (also as {self.link_path})" if self.link_path is not None else ""
            self._announce(f"virtual printer listening on {self.slave_path}{also}")
        self._poller = asyncio.get_running_loop().create_task(self._wait_for_host())

    def _read_packet(self) -> tuple[str, bytes]:
        """One read in packet mode: ("closed" | "empty" | "data" | "flush" | "status", data)."""
        try:
            packet = os.read(self._master, 65536)
        except BlockingIOError:
            return "empty", b""
        except OSError as error:
            if error.errno != errno.EIO:
                raise
            return "closed", b""
        if not packet:
            return "closed", b""
        if packet[0] == termios.TIOCPKT_DATA:
            return "data", packet[1:]
        if packet[0] & termios.TIOCPKT_FLUSHREAD:
            return "flush", b""
        return "status", b""

    async def _wait_for_host(self) -> None:
        # nothing signals a first open on a closed pty: poll (cheaply) until a read works
        while self._read_packet()[0] == "closed":  # noqa: ASYNC110
            await asyncio.sleep(POLL_INTERVAL)
        # let the host finish opening (pyserial flushes its input right after open())
        await asyncio.sleep(OPEN_SETTLE)
        data = bytearray()
        while True:
            kind, payload = self._read_packet()
            if kind in ("empty", "closed"):
                break
            data += payload
        self._poller = None
        self._on_host_open(bytes(data))

    def _on_host_open(self, first: bytes) -> None:
        self._link = PrinterLink(self.printer, self._write, self._on_firmware_drop)
        self._link.start()
        self.connected.set()
        loop = asyncio.get_running_loop()
        loop.add_reader(self._master, self._readable)
        if first:
            self._link.from_host(first)

    def _readable(self) -> None:
        kind, data = self._read_packet()
        if kind == "closed":
            self._on_host_close()
        elif kind == "flush":
            self._on_host_reopen()
        elif kind == "data" and self._link is not None:
            self._link.from_host(data)

    def _on_host_reopen(self) -> None:
        """A host opened the port again (maybe before the last one closed): reset the board."""
        self._detach()
        self._on_host_open(b"")

    def _write(self, data: bytes) -> None:
        if self._master < 0:
            return
        if self._wbuf:
            self._wbuf += data
            return
        try:
            written = os.write(self._master, data)
        except BlockingIOError:
            written = 0
        except OSError:
            return  # the host closed its end; the reader notices
        if written < len(data):
            self._wbuf += data[written:]
            asyncio.get_running_loop().add_writer(self._master, self._writable)

    def _writable(self) -> None:
        try:
            written = os.write(self._master, self._wbuf)
        except BlockingIOError:
            return
        except OSError:
            written = len(self._wbuf)
        del self._wbuf[:written]
        if not self._wbuf:
            asyncio.get_running_loop().remove_writer(self._master)

    def _detach(self) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._master)
        loop.remove_writer(self._master)
        self._wbuf.clear()
        self.connected.clear()
        link, self._link = self._link, None
        if link is not None:
            self._in_background(link.stop())

    def _on_host_close(self) -> None:
        self._detach()
        if not self._closing:
            self._poller = asyncio.get_running_loop().create_task(self._wait_for_host())

    def _on_firmware_drop(self) -> None:
        self._detach()
        os.close(self._master)
        self._master = -1
        if not self._closing:
            self._in_background(self._reopen())

    async def _reopen(self) -> None:
        await asyncio.sleep(RECONNECT_DELAY)
        if not self._closing:
            self._open_pty()
            self.reopened.set()

    def _in_background(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        """Stop serving and remove the pty (and the symlink)."""
        self._closing = True
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        if self._master >= 0:
            self._detach()
            os.close(self._master)
            self._master = -1
        for task in list(self._background):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.printer.close()
        if self.link_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link_path.unlink()


async def serve_pty(
    options: VirtualPrinterOptions | None = None,
    link_path: Path | None = None,
    out: TextIO | None = None,
) -> None:
    """Run a virtual printer behind a pty until cancelled.

    Prints `virtual printer listening on <slave path>` (again whenever a firmware-side
    disconnect brings up a new pty).
    """
    stream = out or sys.stdout
    printer = VirtualPrinter(options)
    server = PtyServer(printer, link_path, lambda text: print(text, file=stream, flush=True))
    await server.start()
    try:
        await asyncio.Event().wait()
    finally:
        await server.close()
