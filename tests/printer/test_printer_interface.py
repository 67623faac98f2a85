"""OctoPrint's PrinterInterface on the printer component, against the virtual printer."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from job_host import GCODE, command_lines, job_lines, printer_host
from moonlite.components.printer.callbacks import PrinterCallback
from moonlite.components.printer.interface import InvalidFileType
from moonlite.components.printer.scripts import UnknownScript

HEXNUT = "hexnut_marlin2.gcode"


async def test_movement_temperature_and_rate_commands(tmp_path: Path) -> None:
    async with printer_host(tmp_path / "data") as (_running, printer, _log):
        vp = printer.virtual_printer
        assert vp is not None
        before = len(vp.executed)
        await printer.home(["x", "Y"])
        await printer.jog({"x": 10, "y": -2.5})
        await printer.jog({"z": 3}, relative=False, speed=False)
        await printer.extrude(5)
        await printer.extrude(-1.5, speed=1200)
        await printer.set_temperature("tool0", 210)
        await printer.set_temperature("bed", 60.5)
        await printer.feed_rate(1.5)
        await printer.flow_rate(95)
        await printer.change_tool("tool0")
        assert job_lines(vp.executed[before:]) == [
            "G28 X0 Y0",
            "G91", "G1 X10 Y-2.5 F6000", "G90",
            "G90", "G1 Z3", "G90",
            "M83", "G1 E5 F300", "M82",
            "M83", "G1 E-1.5 F1200", "M82",
            "M104 T0 S210", "M140 S60.5", "M220 S150", "M221 S95", "T0",
        ]
        assert vp.hotends[0].target == 210


async def test_invalid_arguments_raise_value_error(tmp_path: Path) -> None:
    async with printer_host(tmp_path / "data") as (_running, printer, _log):
        vp = printer.virtual_printer
        assert vp is not None
        before = len(vp.executed)
        bad_calls: list[Any] = [
            printer.jog({"w": 1}), printer.jog({}), printer.jog({"x": "far"}),
            printer.home("q"), printer.extrude("lots"),
            printer.set_temperature("tool1", 200),  # the default profile has one extruder
            printer.set_temperature("nozzle", 200), printer.set_temperature("bed", -5),
            printer.set_temperature("chamber", 40),  # no heated chamber in the profile
            printer.change_tool("t0"), printer.change_tool("tool3"),
            printer.feed_rate(0), printer.flow_rate(True),
        ]
        for call in bad_calls:
            with pytest.raises(ValueError):
                await call
        with pytest.raises(ValueError):
            printer.set_temperature_offset({"extruder": 5})
        with pytest.raises(UnknownScript):
            await printer.script("noSuchScript")
        assert job_lines(vp.executed[before:]) == []


async def test_state_and_data_getters(tmp_path: Path) -> None:
    async with printer_host(tmp_path / "data", files=(HEXNUT,)) as (_running, printer, log):
        assert printer.get_state_id() == "OPERATIONAL"
        assert printer.get_state_string() == "Operational"
        assert printer.is_operational() and printer.is_ready()
        assert not printer.is_printing() and not printer.is_paused()
        assert not printer.is_error() and not printer.is_closed_or_error()
        options = printer.get_connection_options()
        assert isinstance(options["ports"], list) and 250000 in options["baudrates"]
        assert options["portPreference"] == "virtual" and options["autoconnect"] is True
        await printer.commands("M105")
        await log.wait_for(lambda: "tool0" in printer.get_current_temperatures())
        temps = printer.get_current_temperatures()
        assert set(temps["tool0"]) == {"actual", "target", "offset"}
        assert "bed" in temps
        history = printer.get_temperature_history()
        assert history and "time" in history[-1] and "tool0" in history[-1]

        with pytest.raises(InvalidFileType):
            await printer.select_file("notes.txt")
        await printer.select_file(HEXNUT)
        selected = await log.wait_event("FileSelected")
        full = str((tmp_path / "data" / "gcodes" / HEXNUT).resolve())
        assert selected == {"name": HEXNUT, "path": HEXNUT, "origin": "local", "file": full,
                            "filename": HEXNUT}
        assert printer.is_current_file(HEXNUT, False) and not printer.is_current_file(HEXNUT, True)
        data = printer.get_current_data()
        assert data["state"]["text"] == "Operational"
        assert data["state"]["flags"]["ready"] and not data["state"]["flags"]["printing"]
        assert data["job"]["file"]["name"] == HEXNUT
        assert data["job"]["file"]["size"] == (GCODE / HEXNUT).stat().st_size
        assert data["progress"]["completion"] is None
        printer.unselect_file()
        await log.wait_event("FileDeselected")
        assert printer.get_current_job()["file"]["name"] is None


async def test_temperature_offsets_apply_to_the_printed_file(tmp_path: Path) -> None:
    async with printer_host(tmp_path / "data", files=(HEXNUT,)) as (_running, printer, log):
        vp = printer.virtual_printer
        assert vp is not None
        printer.set_temperature_offset({"tool0": 5})
        assert printer.get_current_data()["offsets"] == {"tool0": 5.0}
        before = len(vp.executed)
        await printer.select_file(HEXNUT, printAfterSelect=True)
        await log.wait_event("PrintDone")
        expected = [line.replace("S200", "S205") if line.startswith(("M104", "M109")) else line
                    for line in command_lines(GCODE / HEXNUT)]
        assert job_lines(vp.executed[before:]) == expected


class Recorder(PrinterCallback):
    """A callback that keeps what it receives, with times."""

    def __init__(self) -> None:
        self.initial: list[dict[str, Any]] = []
        self.current: list[tuple[float, dict[str, Any]]] = []
        self.temperatures: list[dict[str, Any]] = []
        self.logs: list[str] = []
        self.changed = asyncio.Event()

    def on_printer_send_initial_data(self, data: dict[str, Any]) -> None:
        self.initial.append(data)

    def on_printer_send_current_data(self, data: dict[str, Any]) -> None:
        self.current.append((time.monotonic(), data))
        self.changed.set()

    def on_printer_add_temperature(self, data: dict[str, Any]) -> None:
        self.temperatures.append(data)
        self.changed.set()

    def on_printer_add_log(self, data: str) -> None:
        self.logs.append(data)


async def test_callbacks_get_data_throttled_to_two_per_second(tmp_path: Path) -> None:
    # temperature autoreports every 20 ms: far more changes than current-data calls
    async with printer_host(tmp_path / "data", extra="interval_scale: 0.01") as (
            _running, printer, _log):
        callback = Recorder()
        printer.register_callback(callback)
        assert set(callback.initial[0]) == {"temps", "logs", "messages"}

        async def enough() -> None:
            while len(callback.current) < 4:
                callback.changed.clear()
                await callback.changed.wait()

        await asyncio.wait_for(enough(), 10)
        times = [t for t, _ in callback.current]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert min(gaps) >= 0.45
        assert len(callback.temperatures) > 2 * len(callback.current)
        assert callback.temperatures[-1]["tool0"]["actual"] is not None
        assert any(line.startswith("Recv: ") for line in callback.logs)
        assert callback.current[-1][1]["state"]["flags"]["operational"]
        printer.unregister_callback(callback)
        count = len(callback.temperatures)
        await printer.commands("M105")
        assert len(callback.temperatures) == count


async def test_job_on_hold_stops_the_file_lines(tmp_path: Path) -> None:
    async with printer_host(tmp_path / "data", files=(HEXNUT,)) as (_running, printer, log):
        vp = printer.virtual_printer
        assert vp is not None
        before = len(vp.executed)
        held = asyncio.Event()

        async def hold_on_layer(_event: str, payload: dict[str, Any]) -> None:
            if payload["new"] >= 0.5 and not held.is_set():
                held.set()
                async with printer.job_on_hold():
                    await printer.commands("M117 snapshot")

        _running.host.events.subscribe("ZChange", hold_on_layer)
        await printer.start_print(HEXNUT)
        await log.wait_event("PrintDone")
        file_lines = command_lines(GCODE / HEXNUT)
        executed = job_lines(vp.executed[before:])
        at = executed.index("M117 snapshot")
        # the snapshot command came between two file lines; nothing was lost or repeated
        assert executed[:at] + executed[at + 1:] == file_lines


async def test_print_from_the_sd_card(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "virtual_sdcard").mkdir(parents=True)
    shutil.copy(GCODE / HEXNUT, data / "virtual_sdcard" / "HEXNUT.GCO")
    async with printer_host(data) as (_running, printer, log):
        vp = printer.virtual_printer
        assert vp is not None
        before = len(vp.executed)
        await printer.select_file("HEXNUT.GCO", sd=True)
        selected = await log.wait_event("FileSelected")
        assert selected["origin"] == "sdcard" and selected["path"] == "HEXNUT.GCO"
        await printer.start_print()
        started = await log.wait_event("PrintStarted")
        assert started["origin"] == "sdcard" and started["job_source"] == "sdcard"
        done = await log.wait_event("PrintDone")
        assert done["origin"] == "sdcard"
        assert printer.jobs.status().progress == 1.0
        file_lines = command_lines(GCODE / HEXNUT)
        executed = job_lines(vp.executed[before:])
        assert executed[:2] == ["M23 HEXNUT.GCO", "M24"]
        assert [line for line in executed if line in file_lines][-50:] == file_lines[-50:]
        assert printer.get_state_id() == "OPERATIONAL"


async def test_upload_to_the_sd_card_then_print_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with printer_host(data, files=(HEXNUT,)) as (_running, printer, log):
        vp = printer.virtual_printer
        assert vp is not None
        name = await printer.add_sd_file(HEXNUT)
        assert name == "HEXNUT_M.GCO"
        started = await log.wait_event("TransferStarted")
        done = await log.wait_event("TransferDone")
        assert started == {"local": HEXNUT, "remote": name}
        assert done["local"] == HEXNUT and done["remote"] == name and done["time"] >= 0
        states = [p["state_id"] for p in log.named("PrinterStateChanged")]
        assert states[-2:] == ["TRANSFERING_FILE", "OPERATIONAL"]
        written = [p for p in (data / "virtual_sdcard").iterdir()]
        assert len(written) == 1
        assert written[0].read_text().splitlines() == command_lines(GCODE / HEXNUT)
        await printer.select_file(name, sd=True, printAfterSelect=True)
        finished = await log.wait_event("PrintDone")
        assert finished["origin"] == "sdcard" and finished["path"] == name


async def test_sd_progress_pause_resume_and_cancel(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "virtual_sdcard").mkdir(parents=True)
    torus = "torus_marlin.gcode"
    shutil.copy(GCODE / torus, data / "virtual_sdcard" / "TORUS.GCO")
    size = (GCODE / torus).stat().st_size
    async with printer_host(data, extra="interval_scale: 0.01") as (_running, printer, log):
        vp = printer.virtual_printer
        assert vp is not None
        positions: list[int] = []
        first_report = asyncio.Event()

        def on_sd(event: str, data: dict[str, Any]) -> None:
            job = printer.jobs.active
            if event == "progress" and job is not None and data["pos"] > 0:
                positions.append(job.file_pos)
                first_report.set()

        printer.link.listeners.sd.append(on_sd)
        await printer.select_file("TORUS.GCO", sd=True, printAfterSelect=True)
        await asyncio.wait_for(first_report.wait(), 10)
        assert await printer.pause_print()
        paused = await log.wait_event("PrintPaused")
        assert paused["origin"] == "sdcard" and not vp.sd.printing
        assert printer.get_state_id() == "PAUSED"
        assert 0 < positions[-1] < size and positions == sorted(positions)
        assert await printer.resume_print()
        await log.wait_event("PrintResumed")
        assert vp.sd.printing
        before = len(vp.executed)
        assert await printer.cancel_print()
        cancelled = await log.wait_event("PrintCancelled")
        assert cancelled["origin"] == "sdcard"
        tail = job_lines(vp.executed[before:])
        # the firmware may run a few more lines from the card before it takes M25
        assert tail.index("M25") < tail.index("M26 S0")
        assert tail[-5:] == ["M114", "M84", "M104 T0 S0", "M140 S0", "M106 S0"]
        assert printer.get_state_id() == "OPERATIONAL"
        assert "PrintDone" not in log.names()
