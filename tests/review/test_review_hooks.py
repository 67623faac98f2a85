"""Review: a placeholder the config wrote inside shell quotes is still data, never code."""

from __future__ import annotations

import asyncio
import shlex
import subprocess
from pathlib import Path

from moonlite.components.event_hooks import EventHooks, HookRun, render, shell_quote

from moonlite.events import Events
from moonlite.testing import running_host

NAMES = ["$(touch pwned).gcode", "`touch pwned`.gcode", 'a"; touch pwned; ".gcode',
         "it's; touch pwned; '.gcode", "back\\slash $HOME.gcode", "plain.gcode"]
TEMPLATES = ['printf %s {name}', 'printf %s "{name}"', "printf %s '{name}'",
             'printf %s "queued: {name} (local)"', "printf %s \"it's\"' and {name}'",
             'printf %s \\"{name}']


def test_every_quoting_context_keeps_the_value_literal(tmp_path: Path) -> None:
    for template in TEMPLATES:
        for name in NAMES:
            command = render(template, {}, {"name": name}, shell_quote)
            result = subprocess.run(["/bin/sh", "-c", command], cwd=tmp_path,
                                    capture_output=True, text=True, check=False)
            assert name in result.stdout, (template, name, command, result.stdout)
            assert not (tmp_path / "pwned").exists(), (template, name, command)


async def test_double_quoted_placeholder_in_a_configured_hook(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    config = f"""
[event_hook announce]
event: PrintStarted
type: system
command: printf '%s\\n' "started {{name}}" >> {shlex.quote(str(out))}
"""
    async with running_host(tmp_path / "data", config) as running:
        hooks = running.host.get_component("event_hooks")
        assert isinstance(hooks, EventHooks)
        runs: asyncio.Queue[HookRun] = hooks.watch()
        for name in NAMES:
            running.host.events.fire(Events.PRINT_STARTED, {"name": name, "path": name,
                                                            "origin": "local"})
            run = await asyncio.wait_for(runs.get(), 10)
            assert run.ok, run
        data = running.host.paths.data
        assert not (data / "pwned").exists()
        assert out.read_text().splitlines() == [f"started {name}" for name in NAMES]
