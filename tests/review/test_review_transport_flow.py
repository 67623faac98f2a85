"""Review: a peer that sends faster than the link reads is held back, not buffered forever."""

from __future__ import annotations

import asyncio
from typing import Any

from moonlite.transport.lines import MAX_BUFFERED_LINES, LineProtocol
from moonlite.transport.tcp import TcpTransport

LINE = b"x" * 999 + b"\n"
SENT = 20 * MAX_BUFFERED_LINES  # ~20 MB: more than loopback socket buffers hold


async def test_reading_pauses_while_lines_pile_up_and_resumes() -> None:
    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for index in range(SENT):
            writer.write(b"%08d" % index + LINE[8:])
            if index % 100 == 0:
                await writer.drain()
        await writer.drain()
        sent_all.set_result(None)

    sent_all: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    server = await asyncio.start_server(flood, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    link = TcpTransport(f"socket://127.0.0.1:{port}")
    paused = asyncio.Event()
    try:
        await link.open()
        proto = link._proto
        assert isinstance(proto, LineProtocol) and proto.transport is not None
        pause = proto.transport.pause_reading

        def pause_and_tell() -> None:
            pause()
            paused.set()

        proto.transport.pause_reading = pause_and_tell  # type: ignore[method-assign]
        # nobody reads: either the link pauses, or (unbounded) everything lands in memory
        either: list[asyncio.Future[Any]] = [asyncio.ensure_future(paused.wait()), sent_all]
        await asyncio.wait(either, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        assert paused.is_set() and not sent_all.done()
        # at most one socket read (256 KiB) over the limit
        assert len(proto.lines) <= MAX_BUFFERED_LINES + 256 * 1024 // len(LINE) + 1
        # reading on resumes the peer; every line arrives, in order
        for index in range(SENT):
            line = await asyncio.wait_for(link.readline(), 10)
            assert line[:8] == b"%08d" % index
        await asyncio.wait_for(sent_all, 10)
    finally:
        await link.close()
        server.close()
        await server.wait_closed()
