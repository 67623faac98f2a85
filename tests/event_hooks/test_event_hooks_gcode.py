"""G-code hooks: their lines reach the printer component, one line per configured line."""

from __future__ import annotations

from pathlib import Path

from hook_helpers import RecordingPrinter, hooks_of, next_run

from moonlite.events import Events
from moonlite.testing import running_host

CONFIG = """
[event_hook on_connect]
event: Connected
type: gcode
command:
    M115
    M117 connected at {baudrate}
    G28

[event_hook on_cancel]
event: PrintCancelled
type: gcode
command: M117 {name} cancelled at Z{position.z}
"""


async def test_gcode_hook_lines_reach_the_printer(tmp_path: Path) -> None:
    async with running_host(tmp_path / "data", CONFIG) as running:
        printer = RecordingPrinter(running.host)
        running.host.components["printer"] = printer
        runs = hooks_of(running).watch()
        running.host.events.fire(Events.CONNECTED, {"port": "/dev/ttyACM0", "baudrate": 250000})
        run = await next_run(runs)
        assert run.ok, run
        assert printer.sent == [["M115", "M117 connected at 250000", "G28"]]

        # a value with line breaks cannot smuggle in another command (e.g. M112)
        running.host.events.fire(Events.PRINT_CANCELLED, {
            "name": "evil\nM112\r\n.gcode", "path": "evil.gcode", "origin": "local",
            "position": {"x": 1, "y": 2, "z": 4.2, "e": 0, "t": 0, "f": 100}})
        run = await next_run(runs)
        assert run.ok, run
        assert printer.sent[1] == ["M117 evil M112  .gcode cancelled at Z4.2"]
