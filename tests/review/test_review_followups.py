"""Review follow-ups: webcam updates by uid, username checks, the host's `listening` event."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from moonlite.config import Config
from moonlite.plugins.manager import PluginManager
from moonlite.server import Host
from moonlite.testing import (
    RpcCallError,
    RpcClient,
    gcode_command_lines,
    running_host,
    wait_until,
)

CAMERA_CONFIG = "[webcam door]\nstream_url: /door\n"


def stored_cams(cams: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The database webcams of a listing."""
    return [c for c in cams if c["source"] == "database"]


async def test_posting_a_webcam_with_its_uid_updates_and_renames_it(tmp_path: Path) -> None:
    async with running_host(tmp_path / "data", CAMERA_CONFIG) as running, \
            RpcClient.connect(running.ws_url) as client:
        first = (await client.call("server.webcams.post_item",
                                   {"name": "nozzle", "stream_url": "/one"}))["webcam"]
        uid = first["uid"]
        renamed = (await client.call("server.webcams.post_item", {
            "name": "hotend", "uid": uid, "stream_url": "/two"}))["webcam"]
        assert (renamed["name"], renamed["uid"], renamed["stream_url"]) == (
            "hotend", uid, "/two")
        cams = stored_cams((await client.call("server.webcams.list"))["webcams"])
        assert [(c["name"], c["uid"], c["stream_url"]) for c in cams] == [
            ("hotend", uid, "/two")]
        # the old name is gone for good (also after a reload from the database)
        try:
            await client.call("server.webcams.get_item", {"name": "nozzle"})
            raise AssertionError("the old name still resolves")
        except RpcCallError as err:
            assert "not found" in err.message
        # an update by name alone keeps the uid
        again = (await client.call("server.webcams.post_item",
                                   {"name": "hotend", "target_fps": 30}))["webcam"]
        assert again["uid"] == uid and again["target_fps"] == 30
        # renaming onto another stored webcam is refused, and so is a config webcam's uid
        await client.call("server.webcams.post_item", {"name": "bed"})
        door = (await client.call("server.webcams.get_item", {"name": "door"}))["webcam"]
        for params in ({"name": "bed", "uid": uid}, {"name": "x", "uid": door["uid"]}):
            reply = await client.request("server.webcams.post_item", params)
            assert reply["error"]["code"] == 400, params
        cams = stored_cams((await client.call("server.webcams.list"))["webcams"])
        assert sorted(c["name"] for c in cams) == ["bed", "hotend"]


async def test_usernames_with_control_characters_or_only_blanks_are_refused(
        tmp_path: Path) -> None:
    bad = ["bob\x00", "al\nice", "eve\x1b[31m", "\t", "   ", "a\u2028b", "\x7f"]
    async with running_host(tmp_path / "data", "") as running, \
            aiohttp.ClientSession() as session:
        for name in bad:
            async with session.post(running.url + "/access/user",
                                    json={"username": name, "password": "secret"}) as resp:
                assert resp.status == 400, repr(name)
        async with session.post(running.url + "/access/user",
                                json={"username": "Jane Doe", "password": "secret"}) as resp:
            assert resp.status == 200
        assert list(running.host.auth.users) == ["Jane Doe"]


async def test_host_listening_is_set_once_the_port_is_bound(tmp_path: Path) -> None:
    async with running_host(tmp_path / "data", "") as running:
        assert running.host.listening.is_set()
        assert running.host.bound_port == running.port


def _idle_host(tmp_path: Path) -> Host:
    return Host(Config(), tmp_path / "data", port=0, host="127.0.0.1")


async def test_after_startup_waits_for_the_listening_event(tmp_path: Path) -> None:
    host = _idle_host(tmp_path)
    manager = PluginManager(host, bundled=False, entry_points=False)
    waiting = asyncio.create_task(manager.after_startup())
    host.listening.set()  # no port recorded: the event alone releases it
    await asyncio.wait_for(manager.after_startup_done.wait(), 5)
    await waiting
    # a host stopped before it listened releases the wait too
    stopped = _idle_host(tmp_path)
    manager = PluginManager(stopped, bundled=False, entry_points=False)
    waiting = asyncio.create_task(manager.after_startup())
    stopped.stopped.set()
    await asyncio.wait_for(waiting, 5)
    assert manager.after_startup_done.is_set()


async def test_move_and_copy_check_the_file_system_off_the_event_loop(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    (data / "gcodes" / "box").mkdir(parents=True)
    (data / "gcodes" / "a.gcode").write_text("G28\n")
    on_loop: list[tuple[str, Path]] = []
    main = threading.main_thread()
    for name in ("exists", "is_dir", "is_file", "is_symlink"):
        real = getattr(Path, name)

        def recording(path: Path, *args: Any, _real: Any = real, _name: str = name) -> Any:
            if threading.current_thread() is main and data in path.parents:
                on_loop.append((_name, path))
            return _real(path, *args)

        monkeypatch.setattr(Path, name, recording)
    async with running_host(data, "[file_manager]\n") as running, \
            RpcClient.connect(running.ws_url) as client:
        files: Any = running.host.get_component("file_manager")
        await asyncio.wait_for(files.cache_ready.wait(), 10)
        on_loop.clear()  # start-up is not under test
        copied = await client.call("server.files.copy",
                                   {"source": "gcodes/a.gcode", "dest": "gcodes/box"})
        assert (copied["action"], copied["item"]["path"]) == ("create_file", "box/a.gcode")
        moved = await client.call("server.files.move",
                                  {"source": "gcodes/a.gcode", "dest": "gcodes/b.gcode"})
        assert (moved["action"], moved["item"]["path"]) == ("move_file", "b.gcode")
        # the checks' refusals still reach the client
        refusals = [("server.files.move", "gcodes/box", "gcodes/box/inner", 400),
                    ("server.files.copy", "gcodes/box", "gcodes/box", 400),
                    ("server.files.move", "gcodes/none.gcode", "gcodes/x.gcode", 404),
                    ("server.files.copy", "gcodes/box", "gcodes/box/inner", 400)]
        for method, source, dest, code in refusals:
            reply = await client.request(method, {"source": source, "dest": dest})
            assert reply["error"]["code"] == (code if code != 404 else -32601), (method, dest)
    assert (data / "gcodes" / "box" / "a.gcode").read_text() == "G28\n"
    assert sorted(p.name for p in (data / "gcodes").iterdir() if p.name != ".thumbs") == [
        "b.gcode", "box"]
    assert on_loop == []


def test_gcode_command_lines_drops_comments_and_blanks(tmp_path: Path) -> None:
    path = tmp_path / "part.gcode"
    path.write_bytes(b"; header\r\nG28 ; home\r\n\r\n   \nM104 S200\n;only comment\n"
                     b"G1 X1 \xff\nG1 X2\n")
    assert gcode_command_lines(path) == ["G28", "M104 S200", "G1 X1 \ufffd", "G1 X2"]
    assert gcode_command_lines(path, limit=2) == ["G28", "M104 S200"]


def test_gcode_command_lines_of_a_slicer_file(gcode_dir: Path) -> None:
    lines = gcode_command_lines(gcode_dir / "hexnut_marlin2.gcode")
    assert len(lines) > 500
    assert all(line == line.strip() and line and ";" not in line for line in lines)


async def test_wait_until_rechecks_on_change_and_times_out() -> None:
    changed = asyncio.Event()
    state = {"count": 0}

    async def bump() -> None:
        for _ in range(3):
            state["count"] += 1
            changed.set()
            await asyncio.sleep(0)  # a turn of the loop between changes, not a timed wait

    bumping = asyncio.create_task(bump())
    await wait_until(lambda: state["count"] == 3, changed, timeout=5)
    await bumping
    with pytest.raises(TimeoutError):
        await wait_until(lambda: state["count"] == 4, changed, timeout=0.05)
