"""System hooks: placeholders, shell quoting of every value, timeouts, isolation."""

from __future__ import annotations

import datetime
import json
import os
import shlex
import time
from pathlib import Path

from hook_helpers import RecordingPrinter, hooks_of, next_run
from moonlite.components.event_hooks import MAX_OUTPUT, MAX_RUNS_PER_HOOK

from moonlite.events import Events
from moonlite.testing import running_host


def q(path: Path) -> str:
    return shlex.quote(str(path))


async def test_placeholders_reach_a_system_hook(tmp_path: Path) -> None:
    out, data_out, home_out = tmp_path / "out.txt", tmp_path / "data.json", tmp_path / "home"
    config = """
[event_hook report]
event: PrintPaused
type: system
command: printf '%s\\n' {__currentZ} {__filename} {__filepath} {__fileorigin} > OUT
    printf '%s\\n' {__progress} {__now} {position.x} {name} {missing} {{literal}} >> OUT
    printf '%s' {__data} > DATA

[event_hook no_printer]
event: Home
type: system
command: printf '%s|%s|%s|%s' {__filename} {__currentZ} {__progress} {__fileorigin} > HOME
""".replace("OUT", q(out)).replace("DATA", q(data_out)).replace("HOME", q(home_out))
    async with running_host(tmp_path / "data", config) as running:
        hooks = hooks_of(running)
        runs = hooks.watch()
        # no printer component: the generic placeholders have their "unknown" values
        running.host.events.fire(Events.HOME, {})
        run = await next_run(runs)
        assert run.ok, run
        assert home_out.read_text() == "NO FILE|-1|0|NO FILE"

        running.host.components["printer"] = RecordingPrinter(running.host)
        payload = {"name": "it's here.gcode", "path": "sub/it's here.gcode",
                   "origin": "local", "position": {"x": 10.5, "y": 2.0, "z": 0.3, "e": None,
                                                   "t": 0, "f": 1500}}
        running.host.events.fire(Events.PRINT_PAUSED, payload)
        run = await next_run(runs)
        assert run.ok, run
        assert len(run.commands) == 3 and run.returncodes == [0, 0, 0]
        lines = out.read_text().splitlines()
        assert lines[:5] == ["0.3", "cube.gcode", "sub/cube.gcode", "local", "42"]
        now = datetime.datetime.fromisoformat(lines[5])
        assert abs(now.timestamp() - time.time()) < 60 and now.tzinfo is not None
        assert lines[6:] == ["10.5", "it's here.gcode", "{missing}", "{literal}"]
        assert json.loads(data_out.read_text()) == payload


async def test_file_names_are_data_never_commands(tmp_path: Path) -> None:
    seen = tmp_path / "seen.txt"
    config = f"""
[event_hook announce]
event: PrintStarted
type: system
command: printf '%s\\n' {{name}} >> {q(seen)}
"""
    names = ["$(touch pwned).gcode", "a;rm -rf x.gcode", "`touch pwned`.gcode",
             "b' ; touch pwned ; '.gcode", "c\ntouch pwned\n.gcode", "d && rm -rf x",
             "--help.gcode", "$HOME*.gcode"]
    async with running_host(tmp_path / "data", config) as running:
        cwd = running.host.paths.data  # where system hooks run
        for sentinel in (cwd / "x", cwd / "x.gcode"):
            sentinel.write_text("keep me")
        hooks = hooks_of(running)
        runs = hooks.watch()
        for name in names:
            running.host.events.fire(Events.PRINT_STARTED, {
                "name": name, "path": name, "origin": "local", "size": 1, "file": name,
                "filename": name, "job_source": "api"})
            run = await next_run(runs)
            assert run.ok, run
            assert run.commands == [f"printf '%s\\n' {shlex.quote(name)} >> {q(seen)}"]
        assert seen.read_text() == "".join(f"{n}\n" for n in names)
        assert not list(tmp_path.rglob("pwned"))
        assert (cwd / "x").read_text() == "keep me"
        assert (cwd / "x.gcode").read_text() == "keep me"


async def test_a_slow_hook_delays_nothing_else(tmp_path: Path) -> None:
    config = """
[event_hook slow]
event: PrintStarted
type: system
command: sleep 5
timeout: 10

[event_hook quick_same_event]
event: PrintStarted
type: system
command: echo same

[event_hook quick_next_event]
event: PrintDone
type: system
command: echo next
"""
    async with running_host(tmp_path / "data", config) as running:
        hooks = hooks_of(running)
        runs = hooks.watch()
        began = time.monotonic()
        running.host.events.fire(Events.PRINT_STARTED, {"name": "a.gcode", "path": "a.gcode"})
        running.host.events.fire(Events.PRINT_DONE, {"name": "a.gcode", "path": "a.gcode"})
        first, second = await next_run(runs), await next_run(runs)
        assert {first.hook, second.hook} == {"quick_same_event", "quick_next_event"}
        assert time.monotonic() - began < 3
        assert first.ok and second.ok
        assert {first.output, second.output} == {"same\n", "next\n"}
        assert hooks.running == 1  # the slow one; stopped with the host


async def test_a_hook_that_overruns_its_timeout_is_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    config = f"""
[event_hook direct]
event: Home
type: system
command: echo $$ > {q(pid_file)}; echo started; exec sleep 30
timeout: 0.5

[event_hook grandchild]
event: Dwell
type: system
command: sleep 30 & wait
timeout: 0.5
"""
    async with running_host(tmp_path / "data", config) as running:
        runs = hooks_of(running).watch()
        began = time.monotonic()
        running.host.events.fire(Events.HOME, {})
        run = await next_run(runs)
        assert run.timed_out and not run.ok
        assert run.returncodes == [-9]
        assert run.output == "started\n"  # what it said before it was stopped is kept
        assert time.monotonic() - began < 5
        pid = int(pid_file.read_text())
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            pass
        else:
            raise AssertionError(f"hook process {pid} still exists")
        # a grandchild holding the output pipe would keep the run alive for 30 s if only
        # the shell were killed: the whole process group goes
        began = time.monotonic()
        running.host.events.fire(Events.DWELL, {})
        run = await next_run(runs)
        assert run.timed_out
        assert time.monotonic() - began < 5


async def test_failing_hooks_do_not_stop_the_others(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    config = f"""
[event_hook exits]
event: Connected
type: system
command: exit 3

[event_hook missing]
event: Connected
type: system
command: /nonexistent/program --flag

[event_hook gcode_without_printer]
event: Connected
type: gcode
command: M117 hello

[event_hook works]
event: Connected
type: system
command: echo {{port}} > {q(marker)}
"""
    async with running_host(tmp_path / "data", config) as running:
        runs = hooks_of(running).watch()
        running.host.events.fire(Events.CONNECTED, {"port": "/dev/ttyUSB0", "baudrate": 115200})
        results = {r.hook: r for r in [await next_run(runs) for _ in range(4)]}
        assert results["exits"].returncodes == [3]
        assert results["missing"].returncodes == [127]
        assert results["gcode_without_printer"].error is not None
        assert results["works"].ok
        assert marker.read_text() == "/dev/ttyUSB0\n"
        # and the server still answers
        running.host.events.fire(Events.CONNECTED, {"port": "again", "baudrate": 1})
        results = {r.hook: r for r in [await next_run(runs) for _ in range(4)]}
        assert results["works"].ok and marker.read_text() == "again\n"


async def test_output_is_kept_up_to_a_cap_and_the_rest_drained(tmp_path: Path) -> None:
    config = """
[event_hook chatty]
event: Home
type: system
command: head -c 1000000 /dev/zero | tr '\\0' x
    echo second
"""
    async with running_host(tmp_path / "data", config) as running:
        runs = hooks_of(running).watch()
        running.host.events.fire(Events.HOME, {})
        run = await next_run(runs)
        assert run.ok and run.returncodes == [0, 0]
        assert len(run.output) == MAX_OUTPUT and set(run.output) == {"x"}


async def test_runs_of_one_hook_are_bounded(tmp_path: Path) -> None:
    config = """
[event_hook slow_per_layer]
event: ZChange
type: system
command: sleep 5
timeout: 10
"""
    async with running_host(tmp_path / "data", config) as running:
        hooks = hooks_of(running)
        runs = hooks.watch()
        for layer in range(MAX_RUNS_PER_HOOK + 2):
            running.host.events.fire(Events.Z_CHANGE, {"new": layer * 0.2, "old": None})
        skipped = [await next_run(runs), await next_run(runs)]
        assert all(r.error == "skipped: too many runs in progress" for r in skipped)
        assert hooks.running == MAX_RUNS_PER_HOOK
