"""The file API over HTTP and websocket: listings, folders, move, copy, delete, zip, download."""

from __future__ import annotations

import asyncio
import io
import shutil
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from moonlite.testing import RpcCallError, RpcClient, RunningHost, running_host

FIXTURES = Path(__file__).parent / "fixtures"
CONFIG = "[file_manager]\n\n[authorization]\ntrusted_clients:\n"


@dataclass
class Api:
    running: RunningHost
    client: RpcClient
    session: aiohttp.ClientSession
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @property
    def gcodes(self) -> Path:
        return self.running.host.paths.gcodes

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        return await self.client.call(method, params)

    async def note(self) -> dict[str, Any]:
        msg = await self.client.next_notification("notify_filelist_changed", timeout=5)
        params: dict[str, Any] = msg["params"][0]
        return params

    async def drain_events(self) -> list[tuple[str, dict[str, Any]]]:
        await self.running.host.events.drain()
        found, self.events[:] = list(self.events), []
        return found


class FakePrinter:
    klippy_state = "ready"

    def __init__(self, path: Path) -> None:
        self.path = path

    def printing_path(self) -> Path:
        return self.path


@pytest.fixture
async def api(tmp_path: Path, gcode_dir: Path) -> AsyncIterator[Api]:
    data = tmp_path / "data"
    (data / "gcodes" / "sub dir").mkdir(parents=True)
    # a file with embedded thumbnails (the shared PrusaSlicer output has none)
    shutil.copy(FIXTURES / "orcaslicer.gcode", data / "gcodes" / "cone.gcode")
    shutil.copy(gcode_dir / "hexnut_marlin2.gcode", data / "gcodes" / "sub dir" / "nut.gcode")
    (data / "gcodes" / "notes.txt").write_text("not gcode")
    # trusted_clients is empty: HTTP needs an API key; the websocket identifies with it
    async with running_host(data, CONFIG) as running:
        key = running.host.auth.api_key
        headers = {"X-Api-Key": key}
        async with aiohttp.ClientSession(headers=headers) as session, \
                RpcClient.connect(running.ws_url, session) as client:
            api = Api(running, client, session)

            async def record(event: str, payload: dict[str, Any]) -> None:
                if event in FILE_EVENTS:
                    api.events.append((event, payload))

            running.host.events.subscribe("*", record)
            files: Any = running.host.get_component("file_manager")
            await asyncio.wait_for(files.cache_ready.wait(), 10)
            await api.drain_events()
            yield api


FILE_EVENTS = {"FileAdded", "FileRemoved", "FolderAdded", "FolderRemoved", "UpdatedFiles",
               "Upload"}


async def test_roots_list_and_directory(api: Api) -> None:
    roots = await api.call("server.files.roots")
    assert [(r["name"], r["permissions"]) for r in roots] == \
        [("config", "rw"), ("logs", "r"), ("gcodes", "rw")]
    assert roots[2]["path"] == str(api.gcodes)
    listed = await api.call("server.files.list")
    assert [f["path"] for f in listed] == ["cone.gcode", "sub dir/nut.gcode"]  # gcode only
    assert set(listed[0]) == {"path", "modified", "size", "permissions"}
    listing = await api.call("server.files.get_directory", {"path": "gcodes"})
    # hidden folders (.thumbs) are listed too; frontends hide them
    assert [d["dirname"] for d in listing["dirs"] if d["dirname"] != ".thumbs"] == ["sub dir"]
    assert [f["filename"] for f in listing["files"]] == ["cone.gcode", "notes.txt"]
    assert listing["root_info"] == {"name": "gcodes", "permissions": "rw"}
    assert set(listing["disk_usage"]) == {"total", "used", "free"}
    extended = await api.call("server.files.get_directory",
                              {"path": "gcodes", "extended": True})
    cone = next(f for f in extended["files"] if f["filename"] == "cone.gcode")
    assert cone["slicer"] == "OrcaSlicer" and cone["thumbnails"]
    with pytest.raises(RpcCallError) as err:
        await api.call("server.files.get_directory", {"path": "gcodes/missing"})
    assert err.value.code == 400 and "Directory does not exist" in err.value.message
    assert api.running.host.registered_directories == ["config", "logs", "gcodes"]


async def test_http_paths_and_auth(api: Api) -> None:
    url = api.running.url
    async with api.session.get(url + "/server/files/list?root=gcodes") as resp:
        assert resp.status == 200
        assert len((await resp.json())["result"]) == 2
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.get(url + "/server/files/list") as resp:
            assert resp.status == 401
        async with anonymous.get(url + "/server/files/gcodes/cone.gcode") as resp:
            assert resp.status == 401
        # thumbnails are public, as in Moonraker
        metadata = await api.call("server.files.metadata", {"filename": "cone.gcode"})
        thumb = metadata["thumbnails"][0]["relative_path"]
        async with anonymous.get(f"{url}/server/files/gcodes/{thumb}") as resp:
            assert resp.status == 200
            assert (await resp.read()).startswith(b"\x89PNG")


async def test_download_with_range_and_missing_file(api: Api) -> None:
    url = api.running.url + "/server/files/gcodes/sub%20dir/nut.gcode"
    content = (api.gcodes / "sub dir" / "nut.gcode").read_bytes()
    async with api.session.get(url) as resp:
        assert resp.status == 200
        assert await resp.read() == content
        assert 'filename="nut.gcode"' in resp.headers["Content-Disposition"]
    async with api.session.get(url, headers={"Range": "bytes=100-199"}) as resp:
        assert resp.status == 206
        assert await resp.read() == content[100:200]
        assert resp.headers["Content-Range"] == f"bytes 100-199/{len(content)}"
    missing = api.running.url + "/server/files/config/.theme/default.json"
    async with api.session.get(missing) as resp:
        assert resp.status == 404
        assert (await resp.json())["error"]["code"] == 404


async def test_metadata_thumbnails_and_metascan(api: Api) -> None:
    metadata = await api.call("server.files.metadata", {"filename": "cone.gcode"})
    assert metadata["filename"] == "cone.gcode"
    assert metadata["size"] == (api.gcodes / "cone.gcode").stat().st_size
    thumbs = await api.call("server.files.thumbnails", {"filename": "cone.gcode"})
    assert thumbs and all(t["thumbnail_path"].startswith(".thumbs/") for t in thumbs)
    assert all((api.gcodes / t["thumbnail_path"]).is_file() for t in thumbs)
    nested = await api.call("server.files.thumbnails", {"filename": "sub dir/nut.gcode"})
    assert all(t["thumbnail_path"].startswith("sub dir/.thumbs/") for t in nested)
    # history marks the file with its last job (Moonraker's job_id / print_start_time)
    files: Any = api.running.host.get_component("file_manager")
    await files.update_metadata("cone.gcode", {"job_id": "00000A", "print_start_time": 5.0})
    marked = await api.call("server.files.metadata", {"filename": "cone.gcode"})
    assert marked == {**metadata, "job_id": "00000A", "print_start_time": 5.0}
    scanned = await api.call("server.files.metascan", {"filename": "cone.gcode"})
    assert scanned["uuid"] != metadata["uuid"]  # a fresh analysis
    for name in ("notes.txt", "missing.gcode"):
        reply = await api.client.request("server.files.metadata", {"filename": name})
        assert reply["error"] == {"code": -32601,
                                  "message": f"Metadata not available for {name}"}


async def test_directories_create_and_delete(api: Api) -> None:
    created = await api.call("server.files.post_directory", {"path": "gcodes/new"})
    assert created["action"] == "create_dir"
    assert created["item"]["path"] == "new" and created["item"]["root"] == "gcodes"
    note = await api.note()
    assert note["action"] == "create_dir" and note["item"]["path"] == "new"
    assert await api.drain_events() == [
        ("FolderAdded", {"storage": "local", "path": "new", "name": "new"}),
        ("UpdatedFiles", {"type": "printables"}), ("UpdatedFiles", {"type": "gcode"})]
    with pytest.raises(RpcCallError) as err:
        await api.call("server.files.post_directory", {"path": "gcodes/new"})
    assert err.value.code == 400
    (api.gcodes / "new" / "a.gcode").write_text("G28\n")
    with pytest.raises(RpcCallError) as err:
        await api.call("server.files.delete_directory", {"path": "gcodes/new"})
    assert err.value.code == 400
    assert (api.gcodes / "new" / "a.gcode").exists()
    deleted = await api.call("server.files.delete_directory",
                             {"path": "gcodes/new", "force": True})
    assert deleted == {"item": {"path": "new", "root": "gcodes", "modified": 0, "size": 0,
                                "permissions": ""}, "action": "delete_dir"}
    assert not (api.gcodes / "new").exists()
    note = await api.note()
    assert note["action"] == "delete_dir"
    with pytest.raises(RpcCallError) as err:
        await api.call("server.files.post_directory", {"path": "logs/nope"})
    assert err.value.code == 403


async def test_move_file_and_folder(api: Api) -> None:
    old_thumbs = [t["thumbnail_path"] for t in
                  await api.call("server.files.thumbnails", {"filename": "cone.gcode"})]
    moved = await api.call("server.files.move",
                           {"source": "gcodes/cone.gcode", "dest": "gcodes/sub dir/c2.gcode"})
    assert moved["action"] == "move_file"
    assert moved["item"]["path"] == "sub dir/c2.gcode"
    assert moved["source_item"] == {"path": "cone.gcode", "root": "gcodes"}
    note = await api.note()
    assert note == {**moved}
    events = await api.drain_events()
    names = [e for e, _ in events]
    assert names.index("FileRemoved") < names.index("FileAdded")
    assert ("FileRemoved", {"storage": "local", "path": "cone.gcode", "name": "cone.gcode",
                            "type": ["machinecode", "gcode"]}) in events
    # metadata follows the file, thumbnails are regenerated next to it and removed at the old
    metadata = await api.call("server.files.metadata", {"filename": "sub dir/c2.gcode"})
    assert metadata["filename"] == "sub dir/c2.gcode"
    assert all(not (api.gcodes / t).exists() for t in old_thumbs)
    reply = await api.client.request("server.files.metadata", {"filename": "cone.gcode"})
    assert reply["error"]["code"] == -32601
    # a folder moved into an existing folder goes inside it
    await api.call("server.files.post_directory", {"path": "gcodes/target"})
    moved = await api.call("server.files.move",
                           {"source": "gcodes/sub dir", "dest": "gcodes/target"})
    assert moved["action"] == "move_dir" and moved["item"]["path"] == "target/sub dir"
    metadata = await api.call("server.files.metadata",
                              {"filename": "target/sub dir/nut.gcode"})
    assert metadata["filename"] == "target/sub dir/nut.gcode"
    # a file moved onto an existing folder goes inside it too
    moved = await api.call("server.files.move", {"source": "gcodes/notes.txt",
                                                 "dest": "gcodes/target"})
    assert moved["item"]["path"] == "target/notes.txt"
    assert (api.gcodes / "target" / "notes.txt").is_file()
    with pytest.raises(RpcCallError) as err:
        await api.call("server.files.move", {"source": "gcodes/none.gcode",
                                             "dest": "gcodes/x.gcode"})
    assert err.value.code == -32601


async def test_copy_file_and_folder(api: Api) -> None:
    copied = await api.call("server.files.copy",
                            {"source": "gcodes/cone.gcode", "dest": "gcodes/copy.gcode"})
    assert copied["action"] == "create_file" and copied["item"]["path"] == "copy.gcode"
    assert (api.gcodes / "copy.gcode").read_bytes() == (api.gcodes / "cone.gcode").read_bytes()
    assert (await api.note())["action"] == "create_file"
    again = await api.call("server.files.copy",
                           {"source": "gcodes/sub dir/nut.gcode", "dest": "gcodes/copy.gcode"})
    assert again["action"] == "modify_file"
    folder = await api.call("server.files.copy", {"source": "gcodes/sub dir",
                                                  "dest": "config/backup"})
    assert folder["action"] == "create_dir" and folder["item"]["root"] == "config"
    assert (api.running.host.paths.config / "backup" / "nut.gcode").is_file()
    metadata = await api.call("server.files.metadata", {"filename": "copy.gcode"})
    assert metadata["size"] == (api.gcodes / "sub dir" / "nut.gcode").stat().st_size


async def test_delete_file_by_websocket_and_http(api: Api) -> None:
    deleted = await api.call("server.files.delete_file", {"path": "gcodes/cone.gcode"})
    assert deleted == {"item": {"path": "cone.gcode", "root": "gcodes", "modified": 0,
                                "size": 0, "permissions": ""}, "action": "delete_file"}
    assert not (api.gcodes / "cone.gcode").exists()
    assert (await api.note())["action"] == "delete_file"
    assert not list((api.gcodes / ".thumbs").glob("cone*"))
    events = await api.drain_events()
    assert ("UpdatedFiles", {"type": "printables"}) in events
    url = api.running.url + "/server/files/gcodes/sub%20dir/nut.gcode"
    async with api.session.delete(url) as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["result"]["action"] == "delete_file"
    assert body["result"]["item"]["path"] == "sub dir/nut.gcode"
    async with api.session.delete(url) as resp:
        assert resp.status == 404
    # delete_file is websocket-only, as in Moonraker
    async with api.session.post(api.running.url + "/server/jsonrpc", json={
            "jsonrpc": "2.0", "method": "server.files.delete_file",
            "params": {"path": "gcodes/notes.txt"}, "id": 1}) as resp:
        reply = await resp.json()
    assert reply["error"]["code"] == -32601
    assert (api.gcodes / "notes.txt").exists()
    reply = await api.client.request("server.files.delete_file", {"path": "logs/x.log"})
    assert reply["error"]["code"] == 403


async def test_printed_file_cannot_be_moved_deleted_or_overwritten(api: Api) -> None:
    printer = FakePrinter(api.gcodes / "sub dir" / "nut.gcode")
    api.running.host.components["printer"] = printer  # type: ignore[assignment]
    attempts: list[tuple[str, dict[str, Any]]] = [
        ("server.files.delete_file", {"path": "gcodes/sub dir/nut.gcode"}),
        ("server.files.move", {"source": "gcodes/sub dir/nut.gcode", "dest": "gcodes/x.gcode"}),
        ("server.files.move", {"source": "gcodes/sub dir", "dest": "gcodes/other"}),
        ("server.files.move", {"source": "gcodes/cone.gcode",
                               "dest": "gcodes/sub dir/nut.gcode"}),
        ("server.files.copy", {"source": "gcodes/cone.gcode",
                               "dest": "gcodes/sub dir/nut.gcode"}),
        ("server.files.delete_directory", {"path": "gcodes/sub dir", "force": True}),
    ]
    before = (api.gcodes / "sub dir" / "nut.gcode").read_bytes()
    for method, params in attempts:
        reply = await api.client.request(method, params)
        assert reply.get("error", {}).get("code") == 403, (method, reply)
        assert "being printed" in reply["error"]["message"]
    assert (api.gcodes / "sub dir" / "nut.gcode").read_bytes() == before
    # copying the printed file elsewhere is fine
    copied = await api.call("server.files.copy", {"source": "gcodes/sub dir/nut.gcode",
                                                  "dest": "gcodes/spare.gcode"})
    assert copied["action"] == "create_file"


async def test_zip(api: Api) -> None:
    result = await api.call("server.files.zip", {
        "items": ["gcodes/cone.gcode", "gcodes/sub dir"], "dest": "gcodes/out/bundle.zip"})
    assert result["action"] == "zip_files"
    assert result["destination"]["path"] == "out/bundle.zip"
    assert result["destination"]["root"] == "gcodes"
    note = await api.note()
    assert note == {"action": "create_file", "item": result["destination"]}
    events = await api.drain_events()
    assert ("FolderAdded", {"storage": "local", "path": "out", "name": "out"}) in events
    with zipfile.ZipFile(api.gcodes / "out" / "bundle.zip") as archive:
        names = sorted(archive.namelist())
        assert "gcodes/cone.gcode" in names and "gcodes/sub dir/nut.gcode" in names
        assert archive.read("gcodes/cone.gcode") == (api.gcodes / "cone.gcode").read_bytes()
        assert archive.getinfo("gcodes/cone.gcode").compress_type == zipfile.ZIP_DEFLATED
    stored = await api.call("server.files.zip", {"items": ["gcodes/notes.txt"],
                                                 "store_only": True})
    assert stored["destination"]["root"] == "config"
    assert stored["destination"]["path"].startswith("collection-")
    data = (api.running.host.paths.config / stored["destination"]["path"]).read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.getinfo("gcodes/notes.txt").compress_type == zipfile.ZIP_STORED
    with pytest.raises(RpcCallError) as err:
        await api.call("server.files.zip", {"items": ["gcodes/nothing"], "dest": "gcodes/z.zip"})
    assert err.value.code == -32601
    with pytest.raises(RpcCallError) as err:
        await api.call("server.files.zip", {"items": ["gcodes/cone.gcode"],
                                            "dest": "logs/z.zip"})
    assert err.value.code == 403


async def test_notifications_reach_every_client(api: Api) -> None:
    async with RpcClient.connect(api.running.ws_url, api.session) as other:
        await api.call("server.files.post_directory", {"path": "config/extra"})
        first, second = await asyncio.gather(
            api.note(), other.next_notification("notify_filelist_changed", timeout=5))
    assert first == second["params"][0]
    assert first["item"]["root"] == "config"
