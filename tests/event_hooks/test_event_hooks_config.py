"""Loading hooks from the config: the global switch, per-hook switches, bad sections."""

from __future__ import annotations

import shlex
from pathlib import Path

from hook_helpers import hooks_of, next_run

from moonlite.events import Events
from moonlite.testing import RpcClient, running_host

HOOKS = """
[event_hook first]
event: Home
type: system
command: echo first

[event_hook second]
event: Home
type: system
command: echo second
"""


async def test_hook_sections_alone_load_the_component(tmp_path: Path) -> None:
    config = HOOKS + """
[event_hook off]
event: Home
type: system
enabled: False
command: echo off

[event_hook no_command]
event: Home
type: system

[event_hook typo]
event: Hom
type: system
command: echo typo

[event_hook bad_type]
event: Home
type: python
command: print()
"""
    async with running_host(tmp_path / "data", config) as running, \
            RpcClient.connect(running.ws_url) as client:
        info = await client.call("server.info")
        assert "event_hooks" in info["components"]
        assert info["failed_components"] == []
        warnings = "\n".join(info["warnings"])
        assert "no_command" in warnings and "command" in warnings
        assert "bad_type" in warnings and "'Hom'" in warnings
        hooks = hooks_of(running)
        assert [h.name for h in hooks.active] == ["first", "second", "typo"]
        runs = hooks.watch()
        running.host.events.fire(Events.HOME, {})
        outputs = sorted([(await next_run(runs)).output for _ in range(2)])
        assert outputs == ["first\n", "second\n"]
        await running.host.events.drain()
        assert hooks.running == 0 and len(hooks.results) == 2


async def test_the_global_switch_disables_every_hook(tmp_path: Path) -> None:
    config = "[event_hooks]\nenabled: False\n" + HOOKS
    async with running_host(tmp_path / "data", config) as running:
        hooks = hooks_of(running)
        assert len(hooks.hooks) == 2 and hooks.active == []
        running.host.events.fire(Events.HOME, {})
        await running.host.events.drain()
        # runs start synchronously in the bus handler: none started, none will
        assert hooks.running == 0 and list(hooks.results) == []


async def test_startup_and_shutdown_hooks_run(tmp_path: Path) -> None:
    up, down = tmp_path / "up", tmp_path / "down"
    config = f"""
[event_hook up]
event: Startup
type: system
command: echo up > {shlex.quote(str(up))}

[event_hook down]
event: Shutdown
type: system
command: sleep 0.2; echo down > {shlex.quote(str(down))}
"""
    async with running_host(tmp_path / "data", config) as running:
        hooks = hooks_of(running)
        await running.host.events.drain()
        await hooks.idle()
        assert [r.hook for r in hooks.results] == ["up"] and hooks.results[0].ok
        assert up.read_text() == "up\n"
    # the Shutdown hook was given the time to finish while the host stopped
    assert down.read_text() == "down\n"
    assert [r.hook for r in hooks.results] == ["up", "down"]
