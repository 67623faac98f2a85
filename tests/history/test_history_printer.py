"""History of real prints on the built-in virtual printer, started through the Moonraker API."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import sys
from pathlib import Path

import aiohttp
from history_helpers import next_change

from moonlite.testing import RpcClient, running_host, wait_printer_ready

CONFIG = """\
[file_manager]

[history]

[printer]
timeout_communication: 5

[virtual_printer]
time_scale: {time_scale}
"""
HEXNUT = "hexnut_marlin2.gcode"


def data_with(tmp_path: Path, gcode_dir: Path, name: str) -> Path:
    """A data folder whose gcodes root holds a copy of the shared file `name`."""
    data = tmp_path / "data"
    (data / "gcodes").mkdir(parents=True)
    shutil.copy(gcode_dir / name, data / "gcodes" / name)
    return data


async def test_a_print_on_the_virtual_printer_is_recorded(tmp_path: Path,
                                                          gcode_dir: Path) -> None:
    data = data_with(tmp_path, gcode_dir, HEXNUT)
    async with running_host(data, CONFIG.format(time_scale=0)) as running, \
            RpcClient.connect(running.ws_url) as client:
        await wait_printer_ready(running.host)
        assert await client.call("printer.print.start", {"filename": HEXNUT}) == "ok"
        added = await next_change(client, "added", HEXNUT)
        assert added["status"] == "in_progress" and added["exists"] is True
        assert added["metadata"]["estimated_time"] == 61
        done = await next_change(client, "finished", HEXNUT)
        assert done["job_id"] == added["job_id"] and done["status"] == "completed"
        assert done["filament_used"] > 0 and done["total_duration"] >= done["print_duration"]
        totals = (await client.call("server.history.totals"))["job_totals"]
        assert totals["total_jobs"] == 1
        assert totals["total_filament_used"] == done["filament_used"]


async def test_a_print_running_when_moonlite_is_killed_is_interrupted(
        tmp_path: Path, gcode_dir: Path) -> None:
    data = data_with(tmp_path, gcode_dir, HEXNUT)
    conf = tmp_path / "moonlite-real.conf"
    # real time: the 1-minute print is still running when the process is killed
    conf.write_text(CONFIG.format(time_scale=1))
    moonlite = Path(sys.executable).with_name("moonlite")
    proc = await asyncio.create_subprocess_exec(
        str(moonlite), "-d", str(data), "-p", "0", "--host", "127.0.0.1", "-n",
        "--config", str(conf), stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stderr is not None
        port = None
        async with asyncio.timeout(30):
            while port is None:
                line = (await proc.stderr.readline()).decode()
                assert line, "moonlite exited before serving"
                found = re.search(r"serving on http://127\.0\.0\.1:(\d+)", line)
                port = int(found.group(1)) if found else None
        # keep reading its log so that a full pipe never blocks it
        drain = asyncio.create_task(proc.stderr.read())
        async with RpcClient.connect(f"ws://127.0.0.1:{port}/websocket") as client:
            async with asyncio.timeout(20):
                while True:  # the printer connects in the background
                    reply = await client.request("printer.print.start", {"filename": HEXNUT})
                    if "result" in reply:
                        break
                    assert reply["error"]["code"] in (503, 400), reply
                    await client.next_notification("notify_klippy_ready", timeout=20)
            added = await next_change(client, "added", HEXNUT)
        os.kill(proc.pid, signal.SIGKILL)
        await proc.wait()
        drain.cancel()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == -signal.SIGKILL

    async with running_host(data, "[history]\n") as running, aiohttp.ClientSession() as s:
        async with s.get(f"{running.url}/server/history/job",
                         params={"uid": added["job_id"]}) as resp:
            job = (await resp.json())["result"]["job"]
        assert job["status"] == "interrupted" and job["end_time"] is None
        assert job["filename"] == HEXNUT and job["metadata"]["estimated_time"] == 61



async def test_a_cancelled_print_is_recorded_as_cancelled(tmp_path: Path,
                                                          gcode_dir: Path) -> None:
    # torus runs about 4 s at time_scale 0.01: still streaming when the cancel arrives (at
    # time_scale 0 a quiet machine finishes its 12k lines before the cancel is handled)
    torus = "torus_marlin.gcode"
    data = data_with(tmp_path, gcode_dir, torus)
    async with running_host(data, CONFIG.format(time_scale=0.01)) as running, \
            RpcClient.connect(running.ws_url) as client:
        await wait_printer_ready(running.host)
        await client.call("printer.print.start", {"filename": torus})
        added = await next_change(client, "added", torus)
        assert await client.call("printer.print.cancel", timeout=20) == "ok"
        ended = await next_change(client, "finished", torus)
        assert ended["job_id"] == added["job_id"] and ended["status"] == "cancelled"
        assert ended["end_time"] is not None
