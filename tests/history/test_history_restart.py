"""History across restarts: a clean stop, and a process killed while a job was running."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from history_helpers import CONFIG, finished, next_change, started

from moonlite.events import Events
from moonlite.testing import RpcClient, running_host

CRASH_SCRIPT = Path(__file__).with_name("history_crash_host.py")


async def test_jobs_and_totals_survive_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with running_host(data, CONFIG) as running, \
            RpcClient.connect(running.ws_url) as client:
        bus = running.host.events
        bus.fire(Events.PRINT_STARTED, started("first.gcode"))
        bus.fire(Events.PRINT_DONE, finished("first.gcode", 60.0, 90.0, 500.0))
        first = await next_change(client, "finished", "first.gcode")
        bus.fire(Events.PRINT_STARTED, started("second.gcode"))
        second = await next_change(client, "added", "second.gcode")
        before_totals = await client.call("server.history.totals")
    # the host stopped while "second" was printing: it ended with the server
    async with running_host(data, CONFIG) as running, \
            RpcClient.connect(running.ws_url) as client:
        jobs = {j["job_id"]: j for j in (await client.call("server.history.list"))["jobs"]}
        assert jobs[first["job_id"]] == first
        stopped = jobs[second["job_id"]]
        assert stopped["status"] == "server_exit" and stopped["end_time"] is not None
        totals = await client.call("server.history.totals")
        assert totals["job_totals"]["total_jobs"] == before_totals["job_totals"][
            "total_jobs"] + 1
        assert totals["job_totals"]["total_filament_used"] == 500.0
        running.host.events.fire(Events.PRINT_STARTED, started("third.gcode"))
        third = await next_change(client, "added", "third.gcode")
        assert int(third["job_id"], 16) > int(second["job_id"], 16)


async def test_a_job_running_when_the_process_was_killed_is_interrupted(
        tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(CRASH_SCRIPT), str(data),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert line.strip() == b"started"
    finally:
        if proc.returncode is None:
            os.kill(proc.pid, signal.SIGKILL)
        await proc.wait()
    assert proc.returncode == -signal.SIGKILL

    async with running_host(data, CONFIG) as running, \
            RpcClient.connect(running.ws_url) as client:
        listed = await client.call("server.history.list")
        assert listed["count"] == 1
        job = listed["jobs"][0]
        assert job["filename"] == "crash.gcode"
        assert job["status"] == "interrupted"
        assert job["end_time"] is None
        # an interrupted job is not counted: its durations were never known
        totals = await client.call("server.history.totals")
        assert totals["job_totals"]["total_jobs"] == 0
