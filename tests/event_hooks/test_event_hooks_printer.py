"""Hooks with the real printer component on the built-in virtual printer."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

from hook_helpers import hooks_of, next_run
from moonlite.components.event_hooks import HookRun
from moonlite.components.printer.component import PrinterComponent

from moonlite.events import Events
from moonlite.testing import RpcClient, running_host, wait_printer_ready
from moonlite.transport.virtual import VirtualTransport

HEXNUT = "hexnut_marlin2.gcode"


async def test_gcode_and_system_hooks_with_the_virtual_printer(tmp_path: Path,
                                                               gcode_dir: Path) -> None:
    seen = tmp_path / "seen.txt"
    # hooks first: they subscribe before the printer connects
    config = f"""\
[event_hook greet]
event: Connected
type: gcode
command:
    M117 hello from {{__fileorigin}}
    G4 P1

[event_hook started]
event: PrintStarted
type: system
command: printf '%s|%s|%s' {{__filename}} {{__filepath}} {{__fileorigin}} > {shlex.quote(str(seen))}

[file_manager]

[printer]
timeout_communication: 5

[virtual_printer]
time_scale: 0
"""
    data = tmp_path / "data"
    (data / "gcodes").mkdir(parents=True)
    shutil.copy(gcode_dir / HEXNUT, data / "gcodes" / HEXNUT)
    async with running_host(data, config) as running, \
            RpcClient.connect(running.ws_url) as client:
        hooks = hooks_of(running)
        runs = hooks.watch()
        # Connected may have fired before watch(): look at the results kept as well
        greet = next((r for r in hooks.results if r.hook == "greet"), None) \
            or await next_run(runs, 20)
        assert greet.hook == "greet" and greet.ok, greet
        assert greet.commands == ["M117 hello from NO FILE", "G4 P1"]
        printer = running.host.get_component("printer")
        assert isinstance(printer, PrinterComponent)
        transport = printer.link.transport
        assert isinstance(transport, VirtualTransport)
        executed = transport.printer.executed
        at = next(i for i, line in enumerate(executed) if line.startswith("M117 hello"))
        assert executed[at:at + 2] == ["M117 hello from NO FILE", "G4 P1"]

        await client.call("printer.print.start", {"filename": HEXNUT})
        while (run := await next_run(runs, 20)).hook != "started":
            pass
        assert run.ok, run
        assert seen.read_text() == f"{HEXNUT}|{HEXNUT}|local"
        assert Events.PRINT_STARTED in [e for _, e, _ in running.host.events.history]


async def test_printing_files_with_shell_in_their_names_runs_only_the_hook(
        tmp_path: Path) -> None:
    seen = tmp_path / "seen.txt"
    config = f"""\
[event_hook announce]
event: PrintStarted
type: system
command: printf '%s\\n' {{name}} >> {shlex.quote(str(seen))}

[event_hook finished]
event: PrintDone
type: system
command: true

[file_manager]

[printer]
timeout_communication: 5

[virtual_printer]
time_scale: 0
"""
    names = ["$(touch pwned).gcode", "a;rm -rf x.gcode", "b`touch pwned`.gcode"]
    data = tmp_path / "data"
    (data / "gcodes").mkdir(parents=True)
    for name in names:
        (data / "gcodes" / name).write_text("G28\nG1 X10 Y10 F3000\nG1 X20\n")
    for sentinel in ("x", "x.gcode"):
        (data / sentinel).write_text("keep me")  # system hooks run in the data folder
    async with running_host(data, config) as running, \
            RpcClient.connect(running.ws_url) as client:
        runs = hooks_of(running).watch()
        for name in names:
            await wait_printer_ready(running.host)
            await client.call("printer.print.start", {"filename": name}, timeout=20)
            by_hook: dict[str, HookRun] = {}
            while set(by_hook) != {"announce", "finished"}:
                run = await next_run(runs, 20)
                by_hook[run.hook] = run
            assert all(r.ok for r in by_hook.values()), by_hook
        assert seen.read_text() == "".join(f"{n}\n" for n in names)
        assert not list(tmp_path.rglob("pwned"))
        assert (data / "x").read_text() == "keep me"
        assert (data / "x.gcode").read_text() == "keep me"
