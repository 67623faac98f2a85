"""A websocket client that stops reading is dropped, never delays others, costs bounded memory."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

import moonlite.websocket
from moonlite.events import Events
from moonlite.testing import RpcClient, RunningHost, running_host
from moonlite.websocket import Connection

TIMEOUT = 30.0
FRAME = "x" * 16 * 1024  # a 16 KiB notification payload


def open_silent_websocket(port: int) -> socket.socket:
    """A websocket upgraded by hand on a socket with a tiny receive buffer, never read again."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(TIMEOUT)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /websocket HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                  "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, "connection closed during the upgrade"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


@pytest.fixture
def silent_socket() -> Iterator[list[socket.socket]]:
    """Sockets opened by the test, closed afterwards."""
    socks: list[socket.socket] = []
    yield socks
    for sock in socks:
        sock.close()


async def connect_silent(running: RunningHost, silent_socket: list[socket.socket]
                         ) -> tuple[Connection, asyncio.Event]:
    """Open a silent websocket; its server-side Connection and an event set when it closes."""
    host = running.host
    known = set(host.websockets.connections)
    registered = asyncio.Event()

    async def on_open(event: str, payload: dict[str, Any]) -> None:
        registered.set()

    host.events.subscribe(Events.CLIENT_OPENED, on_open)
    sock = await asyncio.get_running_loop().run_in_executor(
        None, open_silent_websocket, running.port)
    silent_socket.append(sock)
    await asyncio.wait_for(registered.wait(), TIMEOUT)
    slow: Connection = next(c for c in host.websockets.connections.values()
                            if c.id not in known)
    dropped = asyncio.Event()
    slow.on_close.append(lambda _conn: dropped.set())
    return slow, dropped


async def round_trips(client: RpcClient, count: int) -> list[float]:
    """Latencies (s) of `count` sequential server.info calls."""
    times = []
    for _ in range(count):
        start = time.perf_counter()
        await client.call("server.info")
        times.append(time.perf_counter() - start)
    return times


async def test_silent_client_is_dropped_without_delaying_others(
        tmp_path: Path, silent_socket: list[socket.socket],
        caplog: pytest.LogCaptureFixture) -> None:
    process = psutil.Process()
    async with running_host(tmp_path / "data", "") as running, \
            RpcClient.connect(running.ws_url) as fast:
        host = running.host
        await fast.call("server.connection.identify", {
            "client_name": "fast", "version": "1", "type": "other", "url": "x"})
        baseline = await round_trips(fast, 200)
        slow, dropped = await connect_silent(running, silent_socket)
        rss_before = process.memory_info().rss

        during: list[float] = []
        max_queued = 0
        sent = 0
        while not slow.close_reason and sent < 100_000:
            # a burst of notifications to the silent client only, then one call of the fast one
            for _ in range(20):
                host.notify("notify_flood", FRAME, only=lambda c: c is slow)
                sent += 1
            max_queued = max(max_queued, slow.queued_bytes)
            during += await round_trips(fast, 1)
        assert slow.close_reason, f"not dropped after {sent} frames"
        await asyncio.wait_for(dropped.wait(), TIMEOUT)
        assert slow.id not in host.websockets.connections
        rss_growth = process.memory_info().rss - rss_before

        # the fast client kept being answered promptly while the flood was queued
        assert statistics.median(during) < max(10 * statistics.median(baseline), 0.005), (
            statistics.median(baseline), statistics.median(during))
        assert max(during) < 1.0
        # memory for the silent client stayed within its send budget
        assert max_queued <= moonlite.websocket.SEND_QUEUE_BYTES + len(FRAME) + 100
        assert rss_growth < 64 * 1024 * 1024, rss_growth
        assert sent * len(FRAME) > moonlite.websocket.SEND_QUEUE_BYTES
        reasons = [r.getMessage() for r in caplog.records if "disconnecting" in r.getMessage()]
        assert len(reasons) == 1 and "not reading" in reasons[0], reasons
        # and the fast client is still fine
        assert "api_version" in await fast.call("server.info")
        assert len(host.websockets) == 1


async def test_stalled_write_is_dropped_after_send_timeout(
        tmp_path: Path, silent_socket: list[socket.socket], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(moonlite.websocket, "SEND_TIMEOUT", 0.3)
    monkeypatch.setattr(moonlite.websocket, "WATCHDOG_INTERVAL", 0.05)
    async with running_host(tmp_path / "data", "") as running:
        host = running.host
        slow, dropped = await connect_silent(running, silent_socket)
        # one frame, well within the byte budget, larger than the socket buffers can take
        host.notify("notify_big", "y" * (3 * 1024 * 1024))
        started = time.monotonic()
        await asyncio.wait_for(dropped.wait(), TIMEOUT)
        assert time.monotonic() - started < 5.0
        assert "could not be written in 0.3 s" in slow.close_reason
        assert len(host.websockets) == 0
        assert any("not reading" in r.getMessage() for r in caplog.records)
