"""Host print jobs through a running host and the built-in virtual printer: whole prints,
progress, pause/resume with position restore, cancel with its script, firmware reset."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from job_host import (
    GCODE,
    command_lines,
    job_lines,
    printer_host,
    pty_printer,
    wait_operational,
)
from moonlite.components.printer.callbacks import PrinterCallback
from moonlite.components.printer.gcode_events import GcodeTracker
from moonlite.components.printer.job_state import JobStatus, PrintJob, SelectedFile

from moonlite.rpc import ApiError
from moonlite.virtual_printer.options import VirtualPrinterOptions

HEXNUT = "hexnut_marlin2.gcode"


async def test_whole_print_executes_every_command_line_once_in_order(tmp_path: Path) -> None:
    async with printer_host(tmp_path / "data", files=(HEXNUT,)) as (_running, printer, log):
        vp = printer.virtual_printer
        assert vp is not None
        before = len(vp.executed)
        await printer.print_file(HEXNUT)
        assert printer.is_printing()
        assert printer.printing_path() == (tmp_path / "data" / "gcodes" / HEXNUT).resolve()
        done = await log.wait_event("PrintDone")
        assert job_lines(vp.executed[before:]) == command_lines(GCODE / HEXNUT)
        size = (GCODE / HEXNUT).stat().st_size
        assert done["name"] == HEXNUT and done["path"] == HEXNUT and done["origin"] == "local"
        assert done["size"] == size and done["filename"] == HEXNUT
        assert done["print_duration"] <= done["total_duration"]
        assert done["filament_used"] > 0
        started = log.named("PrintStarted")[0]
        assert started["job_source"] == "api" and started["path"] == HEXNUT
        status = printer.jobs.status()
        assert status.state == "complete" and status.file_position == size
        assert printer.printing_path() is None and not printer.is_printing()


async def test_print_refused_when_busy_or_outside_root(tmp_path: Path) -> None:
    async with printer_host(tmp_path / "data", files=(HEXNUT,)) as (_running, printer, log):
        for bad in ("../moonlite.conf", "/etc/passwd", "gcodes/../../moonlite.conf"):
            with pytest.raises(ApiError) as outside:
                await printer.print_file(bad)
            assert 400 <= outside.value.status < 500
        absolute = str((tmp_path / "data" / "gcodes" / HEXNUT).resolve())
        await printer.select_file(absolute)
        assert printer.jobs.selected is not None and printer.jobs.selected.path == HEXNUT
        await printer.print_file(HEXNUT)
        with pytest.raises(ApiError) as busy:
            await printer.print_file(HEXNUT)
        assert busy.value.status == 409
        await log.wait_event("PrintDone")


TORUS = "torus_marlin.gcode"
PARK = "G91\nG1 Z5 E-1\nG90\nG1 X5 Y5 F3000\n"


def replay(lines: list[str]) -> GcodeTracker:
    """A tracker fed with `lines` (where the head is after them)."""
    tracker = GcodeTracker(lambda _event, _payload: None)
    for line in lines:
        tracker.process(line)
    return tracker


def split_at_first(executed: list[str], marker: str) -> int:
    return executed.index(marker)


async def test_pause_resume_restores_position_and_modes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    scripts = data / "config" / "scripts" / "gcode"
    scripts.mkdir(parents=True)
    (scripts / "afterPrintPaused").write_text(PARK)
    (scripts / "beforePrintResumed").write_text("M117 back to {{ pause_position.z }}\n")
    file_lines = command_lines(GCODE / TORUS)
    async with printer_host(data, files=(TORUS,)) as (running, printer, log):
        vp = printer.virtual_printer
        assert vp is not None
        paused = asyncio.Event()

        async def pause_on_layer(_event: str, payload: dict[str, Any]) -> None:
            if payload["new"] >= 0.95 and not paused.is_set():
                paused.set()
                assert await printer.pause_print()

        running.host.events.subscribe("ZChange", pause_on_layer)
        before = len(vp.executed)
        await printer.start_print(TORUS)
        pause = await log.wait_event("PrintPaused")
        assert printer.is_paused() and not printer.is_printing()
        assert printer.get_state_id() == "PAUSED"
        executed = job_lines(vp.executed[before:])
        cut = split_at_first(executed, "M114")
        # the lines in flight finished; nothing of the file was sent after them
        assert executed[:cut] == file_lines[:cut]
        assert executed[cut + 1:] == PARK.split("\n")[:-1]
        head = replay(file_lines[:cut])
        position = pause["position"]
        assert position["x"] == pytest.approx(head.x, abs=0.01)
        assert position["y"] == pytest.approx(head.y, abs=0.01)
        assert position["z"] == pytest.approx(head.z, abs=0.01)
        assert position["e"] == pytest.approx(head.e, abs=0.01)
        assert position["t"] == 0 and position["f"] == head.feedrate
        assert pause["name"] == TORUS and pause["origin"] == "local"
        assert printer.jobs.status().state == "paused"
        assert 0 < printer.jobs.status().progress < 1

        assert await printer.resume_print()
        await log.wait_event("PrintResumed")
        done = await log.wait_event("PrintDone")
        executed = job_lines(vp.executed[before:])
        resumed_at = cut + 1 + 4
        restore = [
            f"M117 back to {position['z']}",
            "G90",
            f"G1 X{position['x']:.3f} Y{position['y']:.3f} F6000",
            f"G1 Z{position['z']:.3f} F200",
            f"G92 E{position['e']:.5f}",
            f"G1 F{head.feedrate:g}",
        ]
        assert executed[resumed_at:resumed_at + len(restore)] == restore
        # the rest of the file follows the restore, every line once
        assert executed[resumed_at + len(restore):] == file_lines[cut:]
        assert done["total_duration"] >= done["print_duration"]


async def test_cancel_runs_the_cancel_script_and_reports_the_position(tmp_path: Path) -> None:
    file_lines = command_lines(GCODE / TORUS)
    async with printer_host(tmp_path / "data", files=(TORUS,)) as (running, printer, log):
        vp = printer.virtual_printer
        assert vp is not None

        async def cancel_on_layer(_event: str, payload: dict[str, Any]) -> None:
            if payload["new"] >= 0.75 and printer.is_printing():
                assert await printer.cancel_print()

        running.host.events.subscribe("ZChange", cancel_on_layer)
        before = len(vp.executed)
        await printer.start_print(TORUS)
        cancelled = await log.wait_event("PrintCancelled")
        executed = job_lines(vp.executed[before:])
        # M108 ends a heat-up wait that would hold the cancel; it is sent once, before M114
        assert executed.count("M108") == 1
        assert executed.index("M108") < executed.index("M114")
        executed.remove("M108")
        cut = split_at_first(executed, "M114")
        assert executed[:cut] == file_lines[:cut]
        assert executed[cut + 1:] == ["M84", "M104 T0 S0", "M140 S0", "M106 S0"]
        head = replay(file_lines[:cut])
        assert cancelled["position"]["z"] == pytest.approx(head.z, abs=0.01)
        assert cancelled["filament_used"] == pytest.approx(head.filament_used, abs=0.01)
        assert set(cancelled) >= {"name", "path", "origin", "size", "file", "filename",
                                  "print_duration", "total_duration", "filament_used"}
        assert printer.get_state_id() == "OPERATIONAL"
        assert printer.jobs.status().state == "cancelled"
        assert "PrintDone" not in log.names()
        assert await printer.cancel_print() is False


async def test_firmware_reset_mid_print_fails_the_job(tmp_path: Path) -> None:
    async with printer_host(tmp_path / "data", extra="reset_at_line: 400",
                            files=(HEXNUT,)) as (_running, printer, log):
        await printer.start_print(HEXNUT)
        failed = await log.wait_event("PrintFailed")
        assert failed["reason"] == "error" and failed["name"] == HEXNUT
        assert "reset" in failed["error"]
        assert {"print_duration", "total_duration", "filament_used"} <= set(failed)
        assert printer.jobs.status().state == "error"
        assert printer.printing_path() is None
        # the link comes back by itself and the next print runs
        await wait_operational(printer)
        await printer.start_print(HEXNUT)
        await log.wait_event("PrintDone")


async def test_whole_print_over_a_real_pty(tmp_path: Path) -> None:
    async with pty_printer(tmp_path, VirtualPrinterOptions(time_scale=0)) as (printer_fw, path):
        config = f"[printer]\nport: {path}\nbaudrate: 250000\n"
        async with printer_host(tmp_path / "data", files=(TORUS,), config=config) as (
                _running, printer, log):
            connected = log.named("Connected") or [
                p for _t, e, p in _running.host.events.history if e == "Connected"]
            assert connected[-1] == {"port": path, "baudrate": 250000}
            before = len(printer_fw.executed)
            await printer.start_print(TORUS, source="upload")
            done = await log.wait_event("PrintDone", timeout=60)
            assert job_lines(printer_fw.executed[before:]) == command_lines(GCODE / TORUS)
            assert log.named("PrintStarted")[0]["job_source"] == "upload"
            assert done["filament_used"] == pytest.approx(
                replay(command_lines(GCODE / TORUS)).filament_used, abs=0.01)


async def test_print_refused_when_not_connected(tmp_path: Path) -> None:
    async with printer_host(tmp_path / "data", files=(HEXNUT,)) as (_running, printer, _log):
        await printer.disconnect()
        with pytest.raises(ApiError) as offline:
            await printer.print_file(HEXNUT)
        assert offline.value.status == 503
        with pytest.raises(ApiError) as commands:
            await printer.commands(["M105"])
        assert commands.value.status == 503


async def test_host_actions_pause_and_resume_the_job(tmp_path: Path) -> None:
    async with printer_host(tmp_path / "data", files=(TORUS,)) as (running, printer, log):
        vp = printer.virtual_printer
        assert vp is not None

        def pause_on_layer(_event: str, payload: dict[str, Any]) -> None:
            if payload["new"] >= 0.95 and not log.named("PrintPaused"):
                vp.action("pause")

        class Actions(PrinterCallback):
            def __init__(self) -> None:
                self.registered: list[tuple[str, str]] = []
                self.messages: list[str] = []

            def on_printer_received_registered_message(self, name: str, output: str) -> None:
                self.registered.append((name, output))

            def on_printer_add_message(self, data: str) -> None:
                self.messages.append(data)

        actions = Actions()
        printer.register_callback(actions)
        running.host.events.subscribe("ZChange", pause_on_layer)
        await printer.start_print(TORUS)
        await log.wait_event("PrintPaused")
        assert printer.is_paused()
        assert actions.registered == [("pause", "")]
        assert "//action:pause" in actions.messages
        vp.action("resume")
        await log.wait_event("PrintResumed")
        await log.wait_event("PrintDone")


async def test_metadata_estimate_and_line_filters(tmp_path: Path) -> None:
    dropped: list[tuple[int, str]] = []

    def drop_fan_lines(offset: int, line: str) -> str | None:
        if line.startswith("M106"):
            dropped.append((offset, line))
            return None
        return line

    async with printer_host(tmp_path / "data", extra="\n[file_manager]\n",
                            files=(HEXNUT,)) as (_running, printer, log):
        vp = printer.virtual_printer
        assert vp is not None
        printer.jobs.line_filters.append(drop_fan_lines)
        await printer.select_file(HEXNUT)
        job = printer.get_current_job()
        assert job["estimatedPrintTime"] == pytest.approx(61, abs=5)
        assert job["filament"]["length"] > 0
        before = len(vp.executed)
        await printer.start_print()
        assert printer.jobs.status().estimated_time == job["estimatedPrintTime"]
        await log.wait_event("PrintDone")
        file_lines = command_lines(GCODE / HEXNUT)
        assert dropped and all(0 < offset <= (GCODE / HEXNUT).stat().st_size
                               for offset, _ in dropped)
        kept = [ln for ln in file_lines if not ln.startswith("M106")]
        assert job_lines(vp.executed[before:]) == kept


def test_durations_exclude_pauses_and_time_left_blends_the_estimate() -> None:
    file = SelectedFile("a.gcode", "local", 1000)
    job = PrintJob(file, "api", started=100.0)
    job.paused_total = 5.0
    job.paused_at = 115.0
    job.ended = 120.0  # ended while paused: that pause counts too
    assert job.total_duration == 20.0 and job.print_duration == 10.0
    assert job.durations() == {"print_duration": 10.0, "total_duration": 20.0,
                               "filament_used": 0.0}
    job.estimated_time = 40.0
    job.file_pos = 50  # 5 %: the slicer's estimate
    assert job.time_left == pytest.approx(38.0)
    job.file_pos = 500  # 50 %: extrapolated from the time printed so far
    assert job.time_left == pytest.approx(10.0)
    job.file_pos = 200  # 20 %: half way between the two
    assert job.time_left == pytest.approx(0.5 * 32.0 + 0.5 * 40.0)
    status = JobStatus.of(job, None)
    assert status.progress == 0.2 and status.file_size == 1000 and status.source == "api"
    assert JobStatus.of(None, file).state == "standby"


async def test_firmware_reset_mid_print_over_a_real_pty(tmp_path: Path) -> None:
    options = VirtualPrinterOptions(time_scale=0, reset_at_line=600)
    async with pty_printer(tmp_path, options) as (printer_fw, path):
        config = f"[printer]\nport: {path}\nbaudrate: 250000\n"
        async with printer_host(tmp_path / "data", files=(HEXNUT,), config=config) as (
                _running, printer, log):
            before = len(printer_fw.executed)
            await printer.start_print(HEXNUT)
            failed = await log.wait_event("PrintFailed")
            assert failed["reason"] == "error" and failed["origin"] == "local"
            executed = job_lines(printer_fw.executed[before:])
            file_lines = command_lines(GCODE / HEXNUT)
            # what ran before the reset is a prefix of the file; nothing ran twice
            assert 0 < len(executed) < len(file_lines)
            assert executed == file_lines[:len(executed)]
            await wait_operational(printer)
            assert printer.jobs.status().state == "error"
            assert "PrintDone" not in log.names()


async def test_cancel_during_a_heat_up_wait_does_not_wait_for_the_heater(tmp_path: Path) -> None:
    # real-time heating: M109 S200 from ambient would hold the line for about a minute
    async with printer_host(tmp_path / "data", extra="time_scale: 1\nresidency_time: 0",
                            files=(HEXNUT,)) as (_running, printer, log):
        vp = printer.virtual_printer
        assert vp is not None
        waiting = asyncio.Event()

        def on_line(line: str) -> None:
            if " W:" in line:  # Marlin's progress lines while M109 waits
                waiting.set()

        printer.link.listeners.line.append(on_line)
        await printer.start_print(HEXNUT)
        await asyncio.wait_for(waiting.wait(), 10)
        assert await printer.cancel_print()
        cancelled = await log.wait_event("PrintCancelled", timeout=10)
        assert cancelled["name"] == HEXNUT
        heater = vp.tool_heater(0)
        assert heater is not None and heater.actual < 150  # far from 200: nobody waited
