"""Streaming real slicer output over a real pty: the executed log matches the file exactly."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import Factory
from vp_host import stream, stream_pipelined

from moonlite.testing import gcode_command_lines


@pytest.fixture
def hexnut(gcode_dir: Path) -> list[str]:
    return gcode_command_lines(gcode_dir / "hexnut_marlin2.gcode")


async def test_integrity_under_corruption_and_lost_oks(served: Factory, hexnut: list[str]) -> None:
    server, host = await served(corrupt_rate=0.02, drop_ok_rate=0.01, seed=11)
    await host.handshake()
    timeouts = await stream(host, hexnut, ok_timeout=0.05)
    stats = server.printer.stats
    assert stats["corrupted"] > 5 and timeouts == stats["dropped_oks"] > 2
    assert server.printer.executed == ["M110 N0", *hexnut]  # each line once, in order


async def test_pipelined_stream_uses_the_buffer(served: Factory, hexnut: list[str]) -> None:
    server, host = await served(baudrate=250000, latency=0.001)
    await host.handshake()
    lines = hexnut[:200]
    started = time.monotonic()
    await stream_pipelined(host, lines)
    pipelined = time.monotonic() - started
    assert server.printer.executed == ["M110 N0", *lines]
    # several lines were queued at once: some ok reported fewer than BUFSIZE - 1 free slots
    assert any(line.startswith("ok N") and line.endswith((" B2", " B1", " B0"))
               for line in host.seen)
    host.seen.clear()
    started = time.monotonic()
    await stream(host, lines)
    ping_pong = time.monotonic() - started
    assert server.printer.executed[len(lines) + 1:] == lines
    assert pipelined < ping_pong
