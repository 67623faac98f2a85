"""Emulated timing over a real pty: move time, planner back-pressure, busy, baud and latency."""

from __future__ import annotations

import time

import pytest
from conftest import Factory


async def test_move_time_and_print_time(served: Factory) -> None:
    server, host = await served(time_scale=0.01)
    await host.handshake()
    started = time.monotonic()
    for i in range(10):
        host.send(f"G1 X{100 if i % 2 == 0 else 0} F6000")  # 100 mm at 100 mm/s: 1 s each
    host.send("M400")
    await host.until("ok N11")
    elapsed = time.monotonic() - started
    assert server.printer.print_time == pytest.approx(10.0)
    assert 0.1 <= elapsed < 1.0  # 10 simulated seconds at time_scale 0.01


async def test_full_planner_delays_ok(served: Factory) -> None:
    # 2 usable planner blocks; each move lasts 1 s * 0.05 = 50 ms
    _server, host = await served(time_scale=0.05, planner_blocks=3)
    await host.handshake()
    assert await host.command("G1 X100 F6000") == ["ok N1 P1 B3"]
    assert await host.command("G1 X0") == ["ok N2 P0 B3"]
    started = time.monotonic()
    assert await host.command("G1 X100") == ["ok N3 P0 B3"]
    assert time.monotonic() - started >= 0.04  # waited for the first move to finish


async def test_ring_buffer_fills_behind_a_blocking_command(served: Factory) -> None:
    _server, host = await served(time_scale=0.01)
    await host.handshake()
    host.send("G4 S5")  # 50 ms
    host.send("G90")
    host.send("G91")
    lines = await host.until("ok N3")
    assert lines == ["ok N1 P15 B1", "ok N2 P15 B2", "ok N3 P15 B3"]


async def test_busy_keepalive_during_dwell(served: Factory) -> None:
    _server, host = await served(time_scale=0.1, interval_scale=0.05)  # busy every 0.1 s
    await host.handshake()
    lines = await host.command("G4 S5")  # 0.5 s
    assert lines.count("echo:busy: processing") >= 3
    await host.command("M113 S0")
    assert await host.command("G4 S3") == ["ok N3 P15 B3"]


async def test_baud_rate_pacing(served: Factory) -> None:
    server, host = await served(baudrate=38400)
    await host.handshake()
    started = time.monotonic()
    lines = await host.command("M115")
    elapsed = time.monotonic() - started
    wire = (sum(len(line) + 1 for line in lines) + len("N1 M115*39\n")) * 10 / 38400
    assert wire * 0.9 <= elapsed < wire * 3 + 0.1
    assert server.printer.options.baudrate == 38400


async def test_link_latency(served: Factory) -> None:
    _server, host = await served(latency=0.05)
    await host.handshake()
    started = time.monotonic()
    await host.command("M105")
    assert 0.1 <= time.monotonic() - started < 0.5  # one way each: 2 x 50 ms


async def test_rx_overflow_loses_bytes(served: Factory) -> None:
    server, host = await served(time_scale=0.01, rx_buffer_bytes=32, drop_rx_overflow=True)
    await host.handshake()
    host.send("G4 S5")
    await host.until("ok N1")  # ... while nothing else is queued
    for _ in range(6):
        host.send("G1 X10 Y10")  # one write burst: more than 32 bytes at once
    await host.until("ok N2")  # the first line fitted in the buffer
    host.send("G90")  # ends the truncated line: the garbage fails the checks
    lines = await host.until("Resend:")
    assert server.printer.stats["rx_overflow_bytes"] > 0
    # "N3 G1 X10 " + "N8 G90*.." arrive as one line: right number, wrong checksum
    assert lines[-2:] == ["Error:checksum mismatch, Last Line: 2", "Resend: 3"]


async def test_m0_waits_for_prompt_answer(served: Factory) -> None:
    server, host = await served()
    await host.handshake()
    host.send("M0 Insert the magnet")
    assert await host.until("//action:prompt_show") == [
        "//action:prompt_end",
        "//action:prompt_begin Insert the magnet",
        "//action:prompt_button Continue",
        "//action:prompt_show",
    ]
    host.send_plain("M876 S0")
    assert await host.until("ok N1") == ["//action:prompt_end", "ok N1 P15 B3"]
    assert server.printer.prompt_response == 0


async def test_m600_pauses_until_m108(served: Factory) -> None:
    _server, host = await served()
    await host.handshake()
    host.send("M600")
    lines = await host.until("//action:prompt_show")
    assert lines[0] == "//action:paused"
    host.send_plain("M108")
    assert (await host.until("ok N1"))[-2:] == ["//action:resumed", "ok N1 P15 B3"]


async def test_arc_and_speed_factor_times(served: Factory) -> None:
    server, host = await served()
    await host.handshake()
    await host.command("G2 X10 Y0 I5 J0 F600")  # half circle, r=5: 15.71 mm at 10 mm/s
    assert server.printer.print_time == pytest.approx(1.5708, rel=1e-3)
    await host.command("M220 S200")
    await host.command("G1 X0 Y0")  # 10 mm at 20 mm/s
    assert server.printer.print_time == pytest.approx(1.5708 + 0.5, rel=1e-3)
    await host.command("G4 P250")
    assert server.printer.print_time == pytest.approx(2.3208, rel=1e-3)
