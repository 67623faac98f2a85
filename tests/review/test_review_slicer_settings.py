"""Review: only admins may choose the program the PrusaSlicer plugin runs."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from moonlite.testing import running_host

CONFIG = """
[authorization]
trusted_clients: 10.0.0.0/8
[plugins]
load_folder: false
load_entry_points: false
"""
SETTINGS = "/server/plugins/settings"


async def test_a_plain_user_cannot_set_the_slicer_command(tmp_path: Path) -> None:
    async with running_host(tmp_path / "data", CONFIG) as running, \
            aiohttp.ClientSession() as session:
        admin = {"X-Api-Key": running.host.auth.api_key}
        async with session.post(running.url + "/access/user", headers=admin,
                                json={"username": "alice", "password": "secret-pw"}) as resp:
            assert resp.status == 200
            user = {"Authorization": f"Bearer {(await resp.json())['result']['token']}"}
        evil = {"plugin": "prusaslicer", "settings": {"executable": "/bin/sh -c 'touch x'"}}
        async with session.post(running.url + SETTINGS, headers=user, json=evil) as resp:
            assert resp.status == 403
        async with session.get(running.url + SETTINGS + "?plugin=prusaslicer",
                               headers=user) as resp:
            assert (await resp.json())["result"]["settings"]["executable"] is None
        # an admin (the API key) still configures it
        fine = {"plugin": "prusaslicer", "settings": {"executable": "prusa-slicer-custom"}}
        async with session.post(running.url + SETTINGS, headers=admin, json=fine) as resp:
            assert resp.status == 200
            assert (await resp.json())["result"]["settings"]["executable"] == \
                "prusa-slicer-custom"
