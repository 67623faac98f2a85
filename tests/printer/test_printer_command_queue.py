"""The queue of commands waiting for the wire is bounded; a full queue is a 503 to clients."""

from __future__ import annotations

from pathlib import Path

import pytest
from job_host import printer_host
from moonlite.components.printer.errors import QueueFull

from moonlite.rpc import ApiError

CAP = 3


async def test_commands_beyond_the_cap_fail_and_the_queued_ones_complete(
        tmp_path: Path) -> None:
    async with printer_host(tmp_path / "data") as (_running, printer, _log):
        link = printer.link
        assert link.config.max_queued_commands == 1000
        link.config.max_queued_commands = CAP
        # queued back to back: the sender has no chance to take any of them yet
        futures = [link.send(f"M117 line {i}") for i in range(CAP + 2)]
        for refused in futures[CAP:]:
            with pytest.raises(QueueFull, match="printer command queue full"):
                await refused
        for accepted in futures[:CAP]:
            assert await accepted == []
        # room again once the queue drained
        assert await link.send("M400") == []


async def test_gcode_script_answers_503_when_the_queue_is_full(tmp_path: Path) -> None:
    async with printer_host(tmp_path / "data") as (_running, printer, _log):
        link = printer.link
        link.config.max_queued_commands = CAP
        waiting = [link.send("M400") for _ in range(CAP)]
        with pytest.raises(ApiError) as err:
            await printer.gcode_script("M105")
        assert (err.value.status, err.value.message) == (503, "printer command queue full")
        for future in waiting:
            await future
        assert await printer.gcode_script("M105") == "ok"
