"""Benchmark the plugin hot paths: print-progress reports and event delivery to plugins.

Run: .venv/bin/python benchmarks/plugins.py [--events 20000] [--progress 200000]
Starts a real host with whatever plugins are installed (install examples/plugins for the
example set), then prints: the cost of one `notify_print_progress` call (the printer calls it
on every progress change; most calls are deduplicated), and how many events per second reach
every EventHandlerPlugin (fire N events, wait until each plugin has handled them).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from moonlite.plugins import EventHandlerPlugin, ProgressPlugin
from moonlite.plugins.manager import PluginManager
from moonlite.testing import running_host


async def main(events: int, progress: int) -> None:
    """Run both measurements on one host."""
    with tempfile.TemporaryDirectory() as tmp:
        async with running_host(Path(tmp) / "data", "") as running:
            manager = getattr(running.host.components["plugins"], "manager", None)
            assert isinstance(manager, PluginManager)
            await manager.after_startup_done.wait()
            handlers = len(manager.implementations(EventHandlerPlugin))
            listeners = len(manager.implementations(ProgressPlugin))
            print(f"plugins loaded: {len(manager.plugins)} ({handlers} event handlers, "
                  f"{listeners} progress plugins)")

            start = time.perf_counter()
            for i in range(progress):
                manager.notify_print_progress("local", "bench.gcode", 100.0 * i / progress)
            await manager.drain_calls(timeout=60)
            elapsed = time.perf_counter() - start
            print(f"notify_print_progress: {progress} calls (101 delivered per plugin) in "
                  f"{elapsed:.3f} s = {elapsed / progress * 1e9:.0f} ns/call")

            await running.host.events.drain()
            start = time.perf_counter()
            for i in range(events):
                running.host.events.fire("plugin_bench", {"i": i})
                if i % 500 == 499:  # the bus keeps at most 1000 queued events per subscriber
                    await running.host.events.drain(timeout=60)
            await running.host.events.drain(timeout=60)
            elapsed = time.perf_counter() - start
            print(f"events to {handlers} EventHandlerPlugins: {events} events in "
                  f"{elapsed:.3f} s = {events / elapsed:,.0f} events/s "
                  f"({events * handlers / elapsed:,.0f} deliveries/s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--progress", type=int, default=200000)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.progress))
