"""Fault injection over a real pty: corruption, lost oks, busy storms, reset, kill, disconnect."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from conftest import Factory
from vp_host import SerialHost, stream

MOVES = [f"G1 X{i % 50} Y{(i * 7) % 50} E{i * 0.1:.1f}" for i in range(1, 81)]


async def _corrupted_run(served: Factory, seed: int) -> tuple[list[str], list[str]]:
    server, host = await served(corrupt_rate=0.1, seed=seed)
    await host.handshake()
    await stream(host, MOVES)
    errors = [line for line in host.seen if line.startswith(("Error:", "Resend:"))]
    return errors, server.printer.executed


async def test_corruption_is_recovered_and_reproducible(served: Factory) -> None:
    errors, executed = await _corrupted_run(served, seed=7)
    again, executed_again = await _corrupted_run(served, seed=7)
    other, _ = await _corrupted_run(served, seed=8)
    assert errors and errors[0].startswith("Error:checksum mismatch, Last Line: ")
    assert errors == again
    assert errors != other
    # every line executed exactly once and in order despite the corruption
    assert executed == ["M110 N0", *MOVES] == executed_again


async def test_dropped_oks_are_counted_and_reproducible(served: Factory) -> None:
    server, host = await served(drop_ok_rate=0.2, seed=3)
    await host.handshake()
    timeouts = await stream(host, MOVES[:30], ok_timeout=0.05)
    assert timeouts == server.printer.stats["dropped_oks"] > 0
    assert server.printer.executed == ["M110 N0", *MOVES[:30]]
    _server2, host2 = await served(drop_ok_rate=0.2, seed=3)
    await host2.handshake()
    assert await stream(host2, MOVES[:30], ok_timeout=0.05) == timeouts


async def test_busy_storm(served: Factory) -> None:
    server, host = await served(busy_storm_rate=1.0, busy_storm_duration=0.05,
                                busy_storm_interval=0.01)
    await host.handshake()
    lines = await host.command("G90")
    assert lines[0] == "echo:busy: processing" and lines[-1] == "ok N1 P15 B3"
    assert server.printer.stats["busy_storms"] == 2  # M110 and G90


async def test_reset_at_line(served: Factory) -> None:
    server, host = await served(reset_at_line=3)
    await host.handshake()
    await host.command("G90")
    await host.command("G91")
    host.send("M83")
    assert await host.until("start") == ["start"]
    await host.handshake(wait_start=False)
    assert await host.command("M82") == ["ok N1 P15 B3"]
    assert server.printer.executed == ["M110 N0", "G90", "G91", "M110 N0", "M82"]


async def test_kill_at_line(served: Factory) -> None:
    server, host = await served(kill_at_line=2, kill_message="Thermal Runaway, system stopped!")
    await host.handshake()
    await host.command("G90")
    host.send("G91")
    assert await host.until("Error:Printer halted") == [
        "Error:Thermal Runaway, system stopped!",
        "Error:Printer halted. kill() called!",
    ]
    assert server.printer.executed == ["M110 N0", "G90"]


async def test_disconnect_at_line_and_reconnect(served: Factory, tmp_path: Path) -> None:
    link = tmp_path / "ttyVIRTUAL"
    server, host = await served(disconnect_at_line=2, link_path=link)
    await host.handshake()
    await host.command("G90")
    host.send("G91")
    with pytest.raises((EOFError, OSError)):
        await host.line(timeout=2)
    await host.close()
    # the board comes back on a new pty behind the same name
    await asyncio.wait_for(server.reopened.wait(), 3)
    again = await SerialHost.open(str(link))
    try:
        await again.handshake()
        assert await again.command("G91") == ["ok N1 P15 B3"]
    finally:
        await again.close()
    assert server.printer.executed == ["M110 N0", "G90", "M110 N0", "G91"]
