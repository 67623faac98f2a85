"""Upload-and-print and the busy file with the real printer component on the virtual printer."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp

from moonlite.testing import RpcClient, RunningHost, running_host

CONFIG = "[file_manager]\n\n[printer]\n"


async def wait_ready(running: RunningHost) -> None:
    changed = asyncio.Event()
    running.host.events.subscribe("*", lambda event, payload: changed.set())
    async with asyncio.timeout(15):
        while running.host.klippy_state != "ready":
            changed.clear()
            await changed.wait()


async def test_upload_and_print_then_the_file_is_protected(tmp_path: Path,
                                                           gcode_dir: Path) -> None:
    async with running_host(tmp_path / "data", CONFIG) as running, \
            aiohttp.ClientSession() as session, \
            RpcClient.connect(running.ws_url, session) as client:
        started: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        running.host.events.subscribe("PrintStarted", lambda e, p: started.put_nowait(p))
        await wait_ready(running)
        form = aiohttp.FormData()
        form.add_field("file", (gcode_dir / "sphere_fine.gcode").read_bytes(),
                       filename="sphere.gcode")
        form.add_field("path", "jobs")
        form.add_field("print", "true")
        async with session.post(running.url + "/server/files/upload", data=form) as resp:
            assert resp.status == 201
            body = await resp.json()
        assert body["print_started"] is True and body["print_queued"] is False
        payload = await asyncio.wait_for(started.get(), 10)
        assert payload["path"] == "jobs/sphere.gcode"
        assert payload["job_source"] == "upload"
        # pause, so that the file stays the one being printed whatever the printer's speed
        await client.call("printer.print.pause")
        gcodes = running.host.paths.gcodes
        before = (gcodes / "jobs" / "sphere.gcode").read_bytes()
        form = aiohttp.FormData()
        form.add_field("file", b"G28\n", filename="sphere.gcode")
        form.add_field("path", "jobs")
        async with session.post(running.url + "/server/files/upload", data=form) as resp:
            assert resp.status == 403
        for method, params in (
                ("server.files.delete_file", {"path": "gcodes/jobs/sphere.gcode"}),
                ("server.files.move", {"source": "gcodes/jobs", "dest": "gcodes/other"}),
                ("server.files.delete_directory", {"path": "gcodes/jobs", "force": True})):
            reply = await client.request(method, params)
            assert reply["error"]["code"] == 403, (method, reply)
        assert (gcodes / "jobs" / "sphere.gcode").read_bytes() == before
        await client.call("printer.print.cancel")


async def test_upload_and_print_with_the_printer_disconnected_is_503(tmp_path: Path) -> None:
    config = "[file_manager]\n\n[printer]\nauto_connect: False\n"
    async with running_host(tmp_path / "data", config) as running, \
            aiohttp.ClientSession() as session:
        assert running.host.klippy_state != "ready"
        form = aiohttp.FormData()
        form.add_field("file", b"G28\n", filename="later.gcode")
        form.add_field("print", "true")
        async with session.post(running.url + "/server/files/upload", data=form) as resp:
            assert resp.status == 503
        # stored all the same, as Moonraker does
        assert (running.host.paths.gcodes / "later.gcode").read_bytes() == b"G28\n"
