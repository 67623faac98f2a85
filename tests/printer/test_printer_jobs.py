"""Host print jobs through a running host and the built-in virtual printer: whole prints,
progress, pause/resume with position restore, cancel with its script, firmware reset."""

from __future__ import annotations

from pathlib import Path

import pytest
from job_host import GCODE, command_lines, printer_host

from moonlite.rpc import ApiError

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
        assert vp.executed[before:] == command_lines(GCODE / HEXNUT)
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
        with pytest.raises(ApiError) as outside:
            await printer.print_file("../moonlite.conf")
        assert 400 <= outside.value.status < 500
        await printer.print_file(HEXNUT)
        with pytest.raises(ApiError) as busy:
            await printer.print_file(HEXNUT)
        assert busy.value.status == 409
        await log.wait_event("PrintDone")
