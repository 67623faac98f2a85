"""Lines the firmware's 96-byte buffer cannot hold never reach the wire (they would end in a
resend loop that takes the printer offline)."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from job_host import GCODE, printer_host
from moonlite.components.printer.errors import CommandError

HEXNUT = "hexnut_marlin2.gcode"


async def test_long_message_is_shortened_and_long_commands_are_refused(tmp_path: Path) -> None:
    async with printer_host(tmp_path / "data") as (running, printer, _log):
        vp = printer.virtual_printer
        assert vp is not None
        await printer.commands(["M117 " + "a" * 90])
        shown = [line for line in vp.executed if line.startswith("M117")]
        assert shown and shown[-1].startswith("M117 aaaa") and len(shown[-1]) <= 80
        with pytest.raises(CommandError, match="too long"):
            await printer.commands(["G1 " + "X1 " * 40])
        with pytest.raises(CommandError, match="control characters"):
            await printer.commands(["M117 a\x00b"])
        async with aiohttp.ClientSession() as session:
            async with session.post(running.url + "/printer/gcode/script",
                                    json={"script": "G1 " + "Y2 " * 40}) as resp:
                assert resp.status == 400
                assert "too long" in (await resp.json())["error"]["message"]
        # the link survived: the next command is acknowledged and the state is ready
        await printer.commands(["M105"])
        assert printer.klippy_state == "ready"
        assert not any(line.startswith("G1 X1 X1") for line in vp.executed)


async def test_a_job_with_an_overlong_line_fails_and_the_link_stays_up(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "gcodes").mkdir(parents=True)
    source = (GCODE / HEXNUT).read_text().splitlines(keepends=True)
    source.insert(40, "G1 " + "X10 " * 30 + "\n")
    (data / "gcodes" / "long.gcode").write_text("".join(source))
    async with printer_host(data) as (_running, printer, log):
        await printer.start_print("long.gcode")
        failed = await log.wait_event("PrintFailed")
        assert failed["name"] == "long.gcode"
        assert printer.klippy_state == "ready"
        await printer.commands(["M105"])
