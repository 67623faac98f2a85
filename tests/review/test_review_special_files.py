"""Review: a folder holding a broken link or a FIFO can still be zipped and copied."""

from __future__ import annotations

import contextlib
import os
import zipfile
from pathlib import Path

import aiohttp
import pytest

from moonlite.testing import running_host


@pytest.mark.timeout(60)
async def test_zip_and_copy_skip_what_is_not_a_regular_file(tmp_path: Path) -> None:
    async with running_host(tmp_path / "data", "[file_manager]\n") as running, \
            aiohttp.ClientSession() as session:
        sub = running.host.paths.gcodes / "sub"
        sub.mkdir()
        (sub / "part.gcode").write_text("G28\n")
        (sub / "broken.gcode").symlink_to(sub / "missing.gcode")
        fifo = sub / "pipe.gcode"
        os.mkfifo(fifo)
        try:
            async with session.post(running.url + "/server/files/zip", json={
                    "items": ["gcodes/sub"], "dest": "config/sub.zip"}) as resp:
                assert resp.status == 200, await resp.text()
            async with session.post(running.url + "/server/files/zip", json={
                    "items": ["gcodes/sub/pipe.gcode", "gcodes/sub/part.gcode"],
                    "dest": "config/two.zip"}) as resp:
                assert resp.status == 200, await resp.text()
            async with session.post(running.url + "/server/files/copy", json={
                    "source": "gcodes/sub", "dest": "gcodes/copy"}) as resp:
                assert resp.status == 200, await resp.text()
            async with session.post(running.url + "/server/files/copy", json={
                    "source": "gcodes/sub/pipe.gcode", "dest": "gcodes/pipe.gcode"}) as resp:
                assert resp.status == 400
        finally:
            # a worker blocked on the FIFO (the bug) gets its end of file
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        with zipfile.ZipFile(running.host.paths.config / "sub.zip") as archive:
            assert archive.namelist() == ["gcodes/sub/part.gcode"]
        copy = running.host.paths.gcodes / "copy"
        assert sorted(p.name for p in copy.iterdir()) == ["broken.gcode", "part.gcode"]
        assert (copy / "broken.gcode").is_symlink()
        with zipfile.ZipFile(running.host.paths.config / "two.zip") as archive:
            assert archive.namelist() == ["gcodes/sub/part.gcode"]
