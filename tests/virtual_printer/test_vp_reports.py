"""Reports and waits over a real pty: temperatures, heating, M109/M108, M114, M112, M503."""

from __future__ import annotations

import re

import pytest
from conftest import Factory

TEMP = re.compile(r"T:([\d.]+) /([\d.]+)")


def hotend(line: str) -> tuple[float, float]:
    match = TEMP.search(line)
    assert match, line
    return float(match.group(1)), float(match.group(2))


async def test_m105_report_with_tools_bed_and_chamber(served: Factory) -> None:
    _server, host = await served(tools=2, chamber=True)
    await host.handshake()
    await host.command("M104 T1 S200")
    await host.command("M141 S40")
    (line,) = await host.command("M105")
    assert line == (
        "ok T:21.30 /0.00 B:21.30 /0.00 C:40.00 /40.00 T0:21.30 /0.00 T1:200.00 /200.00"
        " @:0 B@:0 C@:7 @0:0 @1:63"
    )  # time_scale 0: heaters reach their targets at once


async def test_m155_autoreport_heats_toward_target(served: Factory) -> None:
    _server, host = await served(time_scale=0.1, interval_scale=0.05)
    await host.handshake()
    await host.command("M104 S200")
    await host.command("M155 S1")
    reports = []
    while len(reports) < 4:
        line = await host.line()
        if line.startswith(" T:"):
            reports.append(hotend(line))
    temps = [actual for actual, _ in reports]
    assert all(target == 200.0 for _, target in reports)
    assert temps == sorted(temps) and temps[-1] > temps[0] > 21.3
    assert temps[-1] < 200.0
    assert "@:127" in line  # full power while heating
    await host.command("M155 S0")


async def test_m109_waits_with_progress_lines(served: Factory) -> None:
    server, host = await served(time_scale=0.01, interval_scale=0.01)
    await host.handshake()
    lines = await host.command("M109 S60", timeout=10)
    waits = [line for line in lines if " W:" in line]
    assert waits[0].endswith(" W:?")
    assert re.search(r" W:\d+$", waits[-1])
    assert lines[-1] == "ok N1 P15 B3"
    assert hotend(waits[-1])[0] >= 59.0
    actual, target = hotend((await host.command("M105"))[0])
    assert target == 60.0 and actual == pytest.approx(60.0)
    assert server.printer.executed[-2:] == ["M109 S60", "M105"]


async def test_m190_waits_for_the_bed(served: Factory) -> None:
    _server, host = await served(time_scale=0.01, interval_scale=0.01)
    await host.handshake()
    lines = await host.command("M190 S50", timeout=10)
    assert any(re.search(r"B:\d+\.\d\d /50\.00", line) and " W:" in line for line in lines)
    assert lines[-1].startswith("ok N1")


async def test_emergency_m108_cuts_m109_short(served: Factory) -> None:
    # real time: heating to 200 would take a minute; busy lines every 0.1 s
    _server, host = await served(time_scale=1.0, interval_scale=0.1)
    await host.handshake()
    host.send("M109 S200")
    host.send("M105")  # queued behind the wait: fills the ring buffer
    await host.until(lambda line: " W:?" in line)
    lines = await host.until("echo:busy: processing", timeout=2)
    assert not any(line.startswith("ok") for line in lines)
    host.send_plain("M108")
    await host.until("ok N1", timeout=2)  # the wait ended long before 200 degrees
    report = await host.until("ok T:", timeout=2)
    actual, target = hotend(report[-1])
    assert target == 200.0 and actual < 100.0


async def test_m114_position_format(served: Factory) -> None:
    _server, host = await served()
    await host.handshake()
    await host.command("G28")
    await host.command("G1 X10 Y20 Z0.3 E1.5 F3000")
    assert await host.command("M114") == [
        "X:10.00 Y:20.00 Z:0.30 E:1.50 Count X:800 Y:1600 Z:120",
        "ok N3 P15 B3",
    ]
    await host.command("G92 E0")
    await host.command("G91")
    await host.command("G1 X-5 E2")
    lines = await host.command("M114")
    assert lines[0] == "X:5.00 Y:20.00 Z:0.30 E:2.00 Count X:400 Y:1600 Z:120"


async def test_m154_position_autoreport(served: Factory) -> None:
    _server, host = await served(interval_scale=0.02)
    await host.handshake()
    await host.command("G1 X3 Y4")
    await host.command("M154 S1")
    lines = await host.until("X:", timeout=2)
    assert lines[-1] == "X:3.00 Y:4.00 Z:0.00 E:0.00 Count X:240 Y:320 Z:0"


async def test_m112_kills_and_stays_silent(served: Factory) -> None:
    server, host = await served()
    await host.handshake()
    host.send("M112")
    assert await host.line() == "Error:Printer halted. kill() called!"
    host.send_plain("M105")
    with pytest.raises(TimeoutError):
        await host.line(timeout=0.3)
    assert server.printer.killed


async def test_m503_and_m119(served: Factory) -> None:
    _server, host = await served()
    await host.handshake()
    await host.command("M203 X400")
    settings = await host.command("M503")
    assert "echo:  M92 X80.00 Y80.00 Z400.00 E93.00" in settings
    assert "echo:  M203 X400.00 Y500.00 Z12.00 E120.00" in settings
    assert any(line.startswith("echo:  M201 X") for line in settings)
    assert any(line.startswith("echo:  M204 P") for line in settings)
    assert any(line.startswith("echo:  M205 B") for line in settings)
    await host.command("G1 Z5")
    endstops = await host.command("M119")
    assert endstops[:4] == ["Reporting endstop status", "x_min: TRIGGERED", "y_min: TRIGGERED",
                            "z_min: open"]


async def test_action_commands_and_m118(served: Factory) -> None:
    server, host = await served()
    await host.handshake()
    server.printer.action("pause")
    assert await host.line() == "//action:pause"
    assert await host.command("M118 A1 action:notification hi") == [
        "//action:notification hi", "ok N1 P15 B3"]


async def test_state_commands_update_the_board(served: Factory) -> None:
    server, host = await served(tools=2)
    await host.handshake()
    for command in ("M117 Printing cube", "M73 P42 R7", "M106 S128", "M106 P1 S255", "M107 P1",
                    "M221 S95", "M17", "G28 X", "M84"):
        await host.command(command)
    printer = server.printer
    assert printer.message == "Printing cube" and printer.progress == 42.0
    assert printer.fans == {0: 128, 1: 0}
    assert printer.motion.flow_factors[0] == 95.0
    assert not printer.motion.steppers_on and not printer.motion.homed
    assert await host.command("T1") == ["echo:Active Extruder: 1", "ok N10 P15 B3"]
    assert await host.command("T5") == ["echo:T5 Invalid extruder", "ok N11 P15 B3"]
    assert (await host.command("M220"))[0] == "FR:100%"
