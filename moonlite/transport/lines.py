"""Line splitting over an asyncio stream protocol: the shared core of the serial and TCP links."""

from __future__ import annotations

import asyncio
import collections
from typing import Any

from moonlite.transport.base import Transport, TransportClosed

#: a "line" longer than this without a terminator is garbage: hand it up as it is
MAX_LINE_BYTES = 4096
#: received lines waiting for the reader; past this the transport stops reading (the peer is
#: held back by flow control) until the reader has taken them down to RESUME_LINES
MAX_BUFFERED_LINES = 1000
RESUME_LINES = 100


class LineProtocol(asyncio.Protocol):
    """Buffers received bytes into complete lines and tracks write flow control.

    Lines end at `\\n`, `\\r\\n` or `\\r`; empty lines are dropped (they carry nothing in the
    Marlin protocol, and `\\r` + `\\n` split over two reads would otherwise yield one).
    """

    def __init__(self) -> None:
        self.lines: collections.deque[bytes] = collections.deque()
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._partial = b""
        self._waiter: asyncio.Future[None] | None = None
        self._drain: asyncio.Future[None] | None = None
        self._error: BaseException | None = None
        self._reading_paused = False

    # asyncio callbacks ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Remember the transport."""
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        """Split `data` into lines and wake a waiting reader."""
        buf = self._partial + data if self._partial else data
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        parts = buf.split(b"\n")
        partial = parts.pop()
        if len(partial) > MAX_LINE_BYTES:
            parts.append(partial)
            partial = b""
        self._partial = partial
        lines = self.lines
        for part in parts:
            if part:
                lines.append(part)
        if len(lines) > MAX_BUFFERED_LINES and not self._reading_paused \
                and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()
        waiter = self._waiter
        if lines and waiter is not None and not waiter.done():
            waiter.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        """Wake every waiter: the link is gone."""
        self._error = TransportClosed(str(exc) if exc else "connection closed")
        for fut in (self._waiter, self._drain):
            if fut is not None and not fut.done():
                fut.set_result(None)
        if not self.closed.done():
            self.closed.set_result(None)

    def pause_writing(self) -> None:
        """The OS buffer is full: writers wait for `resume_writing`."""
        if self._drain is None or self._drain.done():
            self._drain = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        """The OS buffer drained: release waiting writers."""
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    # used by LineTransport -----------------------------------------------------------------
    async def readline(self) -> bytes:
        """Return the next complete line, waiting for one if needed."""
        lines = self.lines
        while not lines:
            if self._error is not None:
                raise self._error
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        line = lines.popleft()
        if self._reading_paused and len(lines) <= RESUME_LINES:
            self._reading_paused = False
            if self.transport is not None and not self.transport.is_closing():
                self.transport.resume_reading()
        return line

    async def write(self, data: bytes) -> None:
        """Write `data`; wait while the transport asks us to pause."""
        if self._error is not None or self.transport is None:
            raise self._error or TransportClosed("not connected")
        self.transport.write(data)
        drain = self._drain
        if drain is not None and not drain.done():
            await drain
            if self._error is not None:
                raise self._error


class LineTransport(Transport):
    """A `Transport` over an asyncio protocol connection; subclasses say how to connect."""

    #: seconds to wait for the OS to confirm a close
    close_timeout = 2.0

    def __init__(self) -> None:
        self._proto: LineProtocol | None = None

    async def _connect(self) -> tuple[asyncio.BaseTransport, Any]:
        """Open the connection with `LineProtocol` as protocol; return (transport, protocol)."""
        raise NotImplementedError

    async def open(self) -> None:
        """Open the link (closing a previous connection of this object first)."""
        if self._proto is not None:
            await self.close()
        transport, proto = await self._connect()
        assert isinstance(proto, LineProtocol) and isinstance(transport, asyncio.Transport)
        # serial transports call connection_made only on the next loop iteration
        proto.transport = transport
        self._proto = proto

    async def readline(self) -> bytes:
        """Return the next received line without its terminator."""
        proto = self._proto
        if proto is None:
            raise TransportClosed("not open")
        return await proto.readline()

    async def write(self, data: bytes) -> None:
        """Send `data` (waits only when the OS buffer is full)."""
        proto = self._proto
        if proto is None:
            raise TransportClosed("not open")
        await proto.write(data)

    async def close(self) -> None:
        """Close the link and wait (bounded) until the OS confirms."""
        proto = self._proto
        if proto is None:
            return
        if proto.transport is not None:
            proto.transport.close()
        try:
            await asyncio.wait_for(asyncio.shield(proto.closed), self.close_timeout)
        except TimeoutError:
            if proto.transport is not None:
                proto.transport.abort()
            proto.connection_lost(None)

    @property
    def is_open(self) -> bool:
        """Whether the link is open and not closing."""
        proto = self._proto
        return (
            proto is not None
            and proto.transport is not None
            and not proto.closed.done()
            and not proto.transport.is_closing()
        )
