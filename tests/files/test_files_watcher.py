"""Changes made outside the API are found by the watcher; the metadata cache survives restarts."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from moonlite.testing import RpcClient, RunningHost, running_host

CONFIG = "[file_manager]\nobserver_debounce_ms: 50\n"


def files_of(running: RunningHost) -> Any:
    return running.host.get_component("file_manager")


@pytest.fixture
async def watched(tmp_path: Path) -> AsyncIterator[tuple[RunningHost, RpcClient]]:
    async with running_host(tmp_path / "data", CONFIG) as running, \
            RpcClient.connect(running.ws_url) as client:
        files = files_of(running)
        for watcher in files.watchers.values():
            await asyncio.wait_for(watcher.ready.wait(), 10)
        await asyncio.wait_for(files.cache_ready.wait(), 10)
        yield running, client


def drop(source: Path, dest: Path) -> None:
    """Make a file appear at `dest` at once (written beside it, then renamed in)."""
    staging = dest.parent.parent / f"staging-{dest.name}"
    shutil.copyfile(source, staging)
    os.replace(staging, dest)


async def next_change(client: RpcClient) -> dict[str, Any]:
    note = await client.next_notification("notify_filelist_changed", timeout=10)
    params: dict[str, Any] = note["params"][0]
    return params


async def test_dropped_file_gets_metadata_and_a_notification(
        watched: tuple[RunningHost, RpcClient], gcode_dir: Path) -> None:
    running, client = watched
    finished: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def on_finished(event: str, payload: dict[str, Any]) -> None:
        await finished.put(payload)

    running.host.events.subscribe("MetadataAnalysisFinished", on_finished)
    gcodes = running.host.paths.gcodes
    drop(gcode_dir / "torus_marlin.gcode", gcodes / "torus.gcode")
    change = await next_change(client)
    assert change["action"] == "create_file"
    assert change["item"]["path"] == "torus.gcode" and change["item"]["root"] == "gcodes"
    assert change["item"]["size"] == (gcode_dir / "torus_marlin.gcode").stat().st_size
    # the metadata is there by the time clients hear of the file
    metadata = await client.call("server.files.metadata", {"filename": "torus.gcode"})
    assert metadata["slicer"] == "PrusaSlicer"
    assert metadata["size"] == change["item"]["size"]
    payload = await asyncio.wait_for(finished.get(), 5)
    assert payload["path"] == "torus.gcode" and payload["origin"] == "local"

    # changed outside the API: modify_file and fresh metadata
    with (gcodes / "torus.gcode").open("ab") as out:
        out.write(b"; appended\n")
    change = await next_change(client)
    assert change["action"] == "modify_file" and change["item"]["path"] == "torus.gcode"
    metadata = await client.call("server.files.metadata", {"filename": "torus.gcode"})
    assert metadata["size"] == (gcodes / "torus.gcode").stat().st_size

    # removed outside the API: delete_file and the metadata is gone
    (gcodes / "torus.gcode").unlink()
    change = await next_change(client)
    assert change == {"action": "delete_file", "item": {
        "path": "torus.gcode", "root": "gcodes", "modified": 0, "size": 0, "permissions": ""}}
    reply = await client.request("server.files.metadata", {"filename": "torus.gcode"})
    assert reply["error"]["code"] == -32601


async def test_folders_appearing_and_vanishing(watched: tuple[RunningHost, RpcClient],
                                               gcode_dir: Path, tmp_path: Path) -> None:
    running, client = watched
    staged = tmp_path / "data" / "staged"
    (staged / "inner").mkdir(parents=True)
    shutil.copyfile(gcode_dir / "hexnut_marlin2.gcode", staged / "inner" / "nut.gcode")
    os.replace(staged, running.host.paths.gcodes / "batch")
    seen = [await next_change(client) for _ in range(3)]
    assert [(c["action"], c["item"]["path"]) for c in seen] == [
        ("create_dir", "batch"), ("create_dir", "batch/inner"),
        ("create_file", "batch/inner/nut.gcode")]
    listed = await client.call("server.files.list")
    assert [f["path"] for f in listed] == ["batch/inner/nut.gcode"]
    shutil.rmtree(running.host.paths.gcodes / "batch")
    change = await next_change(client)
    assert (change["action"], change["item"]["path"]) == ("delete_dir", "batch")
    assert await client.call("server.files.list") == []


async def test_api_changes_are_not_reported_twice(watched: tuple[RunningHost, RpcClient]
                                                  ) -> None:
    running, client = watched
    await client.call("server.files.post_directory", {"path": "gcodes/once"})
    assert (await next_change(client))["action"] == "create_dir"
    async with aiohttp.ClientSession() as session:
        form = aiohttp.FormData()
        form.add_field("file", b"G28\n", filename="up.gcode")
        async with session.post(running.url + "/server/files/upload", data=form) as resp:
            assert resp.status == 201
    assert (await next_change(client))["action"] == "create_file"
    await client.call("server.files.move", {"source": "gcodes/up.gcode",
                                            "dest": "gcodes/once/up.gcode"})
    assert (await next_change(client))["action"] == "move_file"
    # a later outside change is the next notification: nothing duplicated in between
    (running.host.paths.gcodes / "marker.gcode").write_bytes(b"G28\n")
    change = await next_change(client)
    assert (change["action"], change["item"]["path"]) == ("create_file", "marker.gcode")


async def test_metadata_cache_survives_restart_and_catches_up(tmp_path: Path,
                                                              gcode_dir: Path) -> None:
    data = tmp_path / "data"
    gcodes = data / "gcodes"
    gcodes.mkdir(parents=True)
    for name in ("keep", "change", "vanish"):
        shutil.copyfile(gcode_dir / "hexnut_marlin2.gcode", gcodes / f"{name}.gcode")
    async with running_host(data, CONFIG) as running:
        files = files_of(running)
        await asyncio.wait_for(files.cache_ready.wait(), 10)
        first = {n: await files.get_metadata(f"{n}.gcode") for n in ("keep", "change")}
    # while moonlite is down: one file changes, one goes away
    with (gcodes / "change.gcode").open("ab") as out:
        out.write(b"; more\n")
    (gcodes / "vanish.gcode").unlink()
    analysed: list[str] = []
    async with running_host(data, CONFIG) as running:
        running.host.events.subscribe(
            "MetadataAnalysisStarted", lambda e, p: analysed.append(p["path"]))
        files = files_of(running)
        await asyncio.wait_for(files.cache_ready.wait(), 10)
        await running.host.events.drain()
        keep = await files.get_metadata("keep.gcode")
        assert keep["uuid"] == first["keep"]["uuid"]  # read from the database, not redone
        changed = await files.get_metadata("change.gcode")
        assert changed["uuid"] != first["change"]["uuid"]
        assert changed["size"] == (gcodes / "change.gcode").stat().st_size
        assert "vanish.gcode" not in files.cache.entries
        assert analysed == ["change.gcode"]


async def test_observer_can_be_turned_off(tmp_path: Path) -> None:
    async with running_host(tmp_path / "data", "[file_manager]\nenable_observer: False\n") \
            as running:
        assert files_of(running).watcher is None
    async with running_host(tmp_path / "data2",
                            "[file_manager]\nfile_system_observer: none\n") as running:
        assert files_of(running).watcher is None


async def test_whole_root_rescan_finds_unreported_files(tmp_path: Path) -> None:
    # what the watcher does once it is live: rescan the root for changes made meanwhile
    async with running_host(tmp_path / "data", "[file_manager]\nenable_observer: False\n") \
            as running, RpcClient.connect(running.ws_url) as client:
        files = files_of(running)
        (running.host.paths.gcodes / "early.gcode").write_bytes(b"G28\n")
        await files._on_outside_change("gcodes", {files.gcodes_root})
        change = await next_change(client)
        assert (change["action"], change["item"]["path"]) == ("create_file", "early.gcode")
        assert (await files.get_metadata("early.gcode"))["filename"] == "early.gcode"


async def test_config_root_is_watched_too(watched: tuple[RunningHost, RpcClient]) -> None:
    running, client = watched
    (running.host.paths.config / "printer.cfg").write_text("[printer]\n")
    change = await next_change(client)
    assert change["action"] == "create_file"
    assert change["item"]["root"] == "config" and change["item"]["path"] == "printer.cfg"
    # hidden files (Mainsail's .theme) are not tracked
    (running.host.paths.config / ".theme").mkdir()
    (running.host.paths.config / "macros.cfg").write_text("")
    change = await next_change(client)
    assert (change["action"], change["item"]["path"]) == ("create_file", "macros.cfg")
