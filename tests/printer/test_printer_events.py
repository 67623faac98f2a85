"""Events of seed 002 fired by the printer component: communication, G-code processing, and
the job events for firmware kills and lost links."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from job_host import printer_host, wait_operational
from moonlite.components.printer.gcode_events import GcodeTracker

HEXNUT = "hexnut_marlin2.gcode"


def history(running: Any) -> list[tuple[str, dict[str, Any]]]:
    return [(event, payload) for _t, event, payload in running.host.events.history]


async def test_connection_events_with_payloads(tmp_path: Path) -> None:
    async with printer_host(tmp_path / "data") as (running, printer, log):
        seen = history(running)
        names = [event for event, _ in seen]
        assert names.index("Connecting") < names.index("Connected")
        assert dict(seen)["Connected"] == {"port": "VIRTUAL", "baudrate": 250000}
        states = [p["state_id"] for e, p in seen if e == "PrinterStateChanged"]
        assert states[-3:] == ["OPEN_SERIAL", "CONNECTING", "OPERATIONAL"]
        assert {"state_id": "OPERATIONAL", "state_string": "Operational"} in [
            p for e, p in seen if e == "PrinterStateChanged"]

        await printer.disconnect()
        await log.wait_event("Disconnected")
        assert log.names().index("Disconnecting") < log.names().index("Disconnected")
        assert log.named("PrinterStateChanged")[-1] == {"state_id": "CLOSED",
                                                        "state_string": "Offline"}
        assert printer.get_current_connection() == ("Closed", None, None, None)

        await printer.connect()
        connected = await log.wait_event("Connected")
        assert connected == {"port": "VIRTUAL", "baudrate": 250000}
        await wait_operational(printer)
        state, port, baudrate, profile = printer.get_current_connection()
        assert (state, port, baudrate) == ("Operational", "VIRTUAL", 250000)
        assert profile is not None and profile["id"] == "_default"


async def test_gcode_events_from_commands_we_send(tmp_path: Path) -> None:
    async with printer_host(tmp_path / "data") as (_running, printer, log):
        commands = ["G28", "G1 Z5 F300", "G1 Z5", "G4 P0", "M400", "T0", "M114"]
        await asyncio.wait_for(printer.commands(commands), 10)
        update = await log.wait_event("PositionUpdate")
        assert update == {"x": 0.0, "y": 0.0, "z": 5.0, "e": 0.0, "t": 0, "f": 300.0}
        for name in ("Home", "Dwell"):
            assert log.named(name) == [{}]
        # the second G1 Z5 does not change Z
        assert log.named("ZChange") == [{"new": 5.0, "old": 0.0}]
        assert log.named("ToolChange") == [{"old": 0, "new": 0}]


def test_tracker_fires_every_gcode_processing_event() -> None:
    fired: list[tuple[str, Any]] = []
    tracker = GcodeTracker(lambda event, payload: fired.append((event, payload)))
    for line in ("M80", "M81", "G28 X", "G4 S1", "M0", "M1", "M226", "M245", "M300 S1",
                 "M240", "M40", "M112", "T1"):
        tracker.process(line)
    assert [e for e, _ in fired] == [
        "PowerOn", "PowerOff", "Home", "Dwell", "Waiting", "Waiting", "Waiting", "Cooling",
        "Alert", "Conveyor", "Eject", "EStop", "ToolChange"]
    assert fired[-1][1] == {"old": 0, "new": 1}


def test_tracker_extrusion_modes_and_z_changes() -> None:
    fired: list[tuple[str, Any]] = []
    tracker = GcodeTracker(lambda event, payload: fired.append((event, payload)))
    for line in ("G90", "M82", "G1 Z0.2 E1 F1200", "G1 X1 E3", "G92 E0", "G1 E-0.5",
                 "M83", "G1 E0.5", "G1 E2", "G91", "G1 Z1", "G90", "g1 z0.2"):
        tracker.process(line)
    # 1 + 2, reset, -0.5 (retract), +0.5, +2 relative
    assert tracker.filament_used == pytest.approx(5.0)
    assert [p for e, p in fired if e == "ZChange"] == [
        {"new": 0.2, "old": None}, {"new": pytest.approx(1.2), "old": 0.2},
        {"new": 0.2, "old": pytest.approx(1.2)}]
    assert tracker.feedrate == 1200 and not tracker.relative_e


async def test_firmware_kill_fails_the_job_with_shutdown_and_error_event(
        tmp_path: Path) -> None:
    async with printer_host(tmp_path / "data", extra="kill_at_line: 300",
                            files=(HEXNUT,)) as (_running, printer, log):
        await printer.start_print(HEXNUT)
        failed = await log.wait_event("PrintFailed")
        error = await log.wait_event("Error")
        assert "Thermal Runaway" in error["error"]
        assert failed["reason"] == "klippy_shutdown"
        assert printer.is_error() and printer.is_closed_or_error()


async def test_lost_link_fails_the_job_with_disconnect(tmp_path: Path) -> None:
    async with printer_host(tmp_path / "data", extra="disconnect_at_line: 300",
                            files=(HEXNUT,)) as (_running, printer, log):
        await printer.start_print(HEXNUT)
        failed = await log.wait_event("PrintFailed")
        assert failed["reason"] == "klippy_disconnect"
        await log.wait_event("Disconnected")


async def test_connect_and_disconnect_scripts_run(tmp_path: Path) -> None:
    data = tmp_path / "data"
    scripts = data / "config" / "scripts" / "gcode"
    scripts.mkdir(parents=True)
    (scripts / "afterPrinterConnected").write_text("M117 hello {{ printer_profile.name }}\n")
    (scripts / "beforePrinterDisconnected").write_text("M117 bye\n")
    async with printer_host(data) as (_running, printer, log):
        vp = printer.virtual_printer
        assert vp is not None

        await printer.commands("M400")  # queued behind the connect script
        assert "M117 hello Default" in vp.executed
        await printer.disconnect()
        assert vp.executed[-1] == "M117 bye"
        await log.wait_event("Disconnected")


async def test_host_action_disconnect_closes_the_link(tmp_path: Path) -> None:
    async with printer_host(tmp_path / "data") as (_running, printer, log):
        vp = printer.virtual_printer
        assert vp is not None
        vp.action("disconnect")
        await log.wait_event("Disconnected")
        assert log.names().index("Disconnecting") < log.names().index("Disconnected")
        assert printer.get_state_id() == "CLOSED"
