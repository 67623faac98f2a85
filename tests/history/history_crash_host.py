"""Run a host with [history], start a job on its bus, print "started", then wait to be killed.

Used by test_history_restart.py: the test SIGKILLs this process while the job is in progress.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from moonlite.components.history import History

from moonlite.events import Events
from moonlite.testing import running_host


async def main(data_dir: Path) -> None:
    """Start the host and the job, report, then block until killed."""
    async with running_host(data_dir, "[history]\n") as running:
        history = running.host.get_component("history")
        assert isinstance(history, History)
        running.host.events.fire(Events.PRINT_STARTED, {
            "name": "crash.gcode", "path": "crash.gcode", "origin": "local", "size": 1,
            "file": "crash.gcode", "filename": "crash.gcode", "job_source": "api"})
        await running.host.events.drain()
        await history.settled()
        print("started", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
