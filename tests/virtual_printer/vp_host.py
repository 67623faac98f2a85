"""Test helper: a minimal serial host speaking to the virtual printer over a real pty."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import serial_asyncio_fast

from moonlite.virtual_printer import frame

TIMEOUT = 5.0


class SerialHost:
    """Opens the pty with pyserial-asyncio-fast; numbers and checksums lines like a host."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.line_number = 0
        self.seen: list[str] = []

    @classmethod
    async def open(cls, path: str, baudrate: int = 115200) -> SerialHost:
        """Open `path` as a serial port."""
        reader, writer = await serial_asyncio_fast.open_serial_connection(
            url=path, baudrate=baudrate
        )
        return cls(reader, writer)

    async def close(self) -> None:
        """Close the port."""
        self.writer.close()

    def write(self, data: bytes) -> None:
        """Write raw bytes."""
        self.writer.write(data)

    def send(self, command: str, number: int | None = None) -> int:
        """Send `N<n> <command>*<cs>` with the next line number (or `number`)."""
        if number is None:
            self.line_number += 1
            number = self.line_number
        self.writer.write(frame(number, command))
        return number

    def send_plain(self, command: str) -> None:
        """Send an unnumbered line."""
        self.writer.write(command.encode("ascii") + b"\n")

    async def line(self, timeout: float = TIMEOUT) -> str:
        """The next line from the printer."""
        raw = await asyncio.wait_for(self.reader.readline(), timeout)
        if not raw:
            raise EOFError("printer closed the link")
        text = raw.decode("latin-1").rstrip("\r\n")
        self.seen.append(text)
        return text

    async def until(
        self, match: str | Callable[[str], bool], timeout: float = TIMEOUT
    ) -> list[str]:
        """Lines up to and including the first one matching (prefix or predicate)."""

        def test(text: str) -> bool:
            return text.startswith(match) if isinstance(match, str) else match(text)

        lines: list[str] = []
        async with asyncio.timeout(timeout):
            while True:
                text = await self.line()
                lines.append(text)
                if test(text):
                    return lines

    async def handshake(self, wait_start: bool = True) -> list[str]:
        """Wait for `start`, then `N0 M110 N0` and its ok; returns the banner lines."""
        banner = await self.until("start") if wait_start else []
        self.line_number = 0
        self.send("M110 N0", 0)
        banner += await self.until("ok")
        return banner[:-1]

    async def command(self, command: str, timeout: float = TIMEOUT) -> list[str]:
        """Send a numbered command; lines up to and including its `ok`."""
        self.send(command)
        return await self.until("ok", timeout)


async def stream(host: SerialHost, commands: list[str], ok_timeout: float = TIMEOUT) -> int:
    """Send `commands` one at a time (ping-pong), following resend requests.

    A missing `ok` (after `ok_timeout`) counts as acknowledged, as a host's timeout would.
    Returns the number of timeouts.
    """
    base = host.line_number
    index = 0
    timeouts = 0
    while index < len(commands):
        host.send(commands[index], base + index + 1)
        try:
            lines = await host.until(lambda t: t.startswith(("ok", "Resend:")), ok_timeout)
        except TimeoutError:
            timeouts += 1
            index += 1
            continue
        if lines[-1].startswith("Resend:"):
            index = int(lines[-1].split(":")[1]) - base - 1
            await host.until("ok")
            continue
        index += 1
    host.line_number = base + len(commands)
    return timeouts


async def stream_pipelined(host: SerialHost, commands: list[str], rx_bytes: int = 128) -> None:
    """Send `commands` keeping as many lines in flight as ADVANCED_OK's `B` allows.

    Never more unacknowledged bytes than `rx_bytes`; one line in flight until the first
    `ok` reports `B`. No resend handling: for clean links only.
    """
    base = host.line_number
    inflight: list[tuple[int, int]] = []
    inflight_bytes = 0
    free = 1
    index = 0
    while index < len(commands) or inflight:
        while index < len(commands) and len(inflight) < free:
            size = len(frame(base + index + 1, commands[index]))
            if inflight and inflight_bytes + size > rx_bytes:
                break
            inflight.append((host.send(commands[index], base + index + 1), size))
            inflight_bytes += size
            index += 1
        line = await host.line()
        if not line.startswith("ok N"):
            continue
        fields = dict((word[0], int(word[1:])) for word in line.split()[1:])
        while inflight and inflight[0][0] <= fields["N"]:
            inflight_bytes -= inflight.pop(0)[1]
        free = max(1, fields.get("B", 1))
    host.line_number = base + len(commands)
