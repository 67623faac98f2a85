"""A move or copy whose destination lies under an existing file is a 400, not a 500."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from moonlite.testing import running_host


async def test_destination_under_a_file_is_refused(tmp_path: Path) -> None:
    async with running_host(tmp_path / "data", "[file_manager]\n") as running, \
            aiohttp.ClientSession() as session:
        gcodes = running.host.paths.gcodes
        (gcodes / "a.gcode").write_text("G28\n")
        (gcodes / "b.gcode").write_text("G28\n")
        for action in ("move", "copy"):
            async with session.post(f"{running.url}/server/files/{action}", json={
                    "source": "gcodes/a.gcode", "dest": "gcodes/b.gcode/x.gcode"}) as resp:
                assert resp.status == 400, action
                assert "under a file" in (await resp.json())["error"]["message"]
        assert (gcodes / "a.gcode").read_text() == "G28\n"
        assert (gcodes / "b.gcode").read_text() == "G28\n"
