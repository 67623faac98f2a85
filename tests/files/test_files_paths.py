"""Path safety on every files endpoint: traversal, absolute, encoded dots, symlinks, NUL, length.

Each endpoint gets every bad path; every answer must be a 4xx, and a sentinel folder outside
the roots must be neither read (its content never appears in a reply), written nor deleted.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import urllib.parse
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moonlite.components.files.paths import Root, Roots

from moonlite.rpc import ApiError
from moonlite.testing import RpcClient, RunningHost, running_host

SECRET = b"SECRET-CONTENT-DO-NOT-LEAK\n"


@dataclass
class World:
    running: RunningHost
    outside: Path
    client: RpcClient
    session: aiohttp.ClientSession

    def snapshot(self) -> dict[str, bytes]:
        return {str(p.relative_to(self.outside)): p.read_bytes() if p.is_file() else b"<dir>"
                for p in sorted(self.outside.rglob("*"))}


def bad_paths(outside: Path) -> list[str]:
    """Root-relative paths that must all be refused."""
    return [
        "../../outside/secret.gcode",
        "sub/../../../outside/secret.gcode",
        "..",
        str(outside / "secret.gcode"),  # absolute
        "/etc/passwd",
        "link_dir/secret.gcode",  # symlinked folder leading out of the root
        "link_dir",
        "link_file.gcode",  # symlinked file leading out of the root
        "nul\x00byte.gcode",
        "x" * 300 + ".gcode",  # a name over 255 bytes
        "/".join(["d" * 200] * 25) + "/f.gcode",  # a path over 4096 bytes
    ]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    data = tmp_path / "data"
    outside = tmp_path / "outside"
    (outside / "inner").mkdir(parents=True)
    (outside / "secret.gcode").write_bytes(SECRET)
    (outside / "inner" / "deep.gcode").write_bytes(SECRET)
    (outside / "secret.png").write_bytes(SECRET)  # images are served without credentials
    gcodes = data / "gcodes"
    gcodes.mkdir(parents=True)
    (gcodes / "ok.gcode").write_bytes(b"G28\n")
    (gcodes / "sub").mkdir()
    (gcodes / "link_dir").symlink_to(outside, target_is_directory=True)
    (gcodes / "link_file.gcode").symlink_to(outside / "secret.gcode")
    async with running_host(data, "[file_manager]\n") as running, \
            aiohttp.ClientSession() as session, \
            RpcClient.connect(running.ws_url, session) as client:
        yield World(running, outside, client, session)


async def _rpc_refused(world: World, method: str, params: dict[str, Any]) -> None:
    reply = await world.client.request(method, params)
    assert "error" in reply, (method, params, reply)
    assert reply["error"]["code"] in (400, 403), (method, params, reply)
    assert SECRET.decode().strip() not in str(reply)


async def _check_rpc(world: World, method: str,
                     make: Callable[[str], list[dict[str, Any]]]) -> None:
    before = world.snapshot()
    for bad in bad_paths(world.outside):
        for params in make(bad):
            await _rpc_refused(world, method, params)
    assert world.snapshot() == before
    assert (world.running.host.paths.gcodes / "ok.gcode").read_bytes() == b"G28\n"


RPC_CASES: dict[str, Callable[[str], list[dict[str, Any]]]] = {
    "server.files.get_directory": lambda bad: [{"path": f"gcodes/{bad}"}],
    "server.files.post_directory": lambda bad: [{"path": f"gcodes/{bad}/new"},
                                                {"path": f"gcodes/{bad}"}],
    "server.files.delete_directory": lambda bad: [{"path": f"gcodes/{bad}", "force": True}],
    "server.files.metadata": lambda bad: [{"filename": bad}],
    "server.files.metascan": lambda bad: [{"filename": bad}],
    "server.files.thumbnails": lambda bad: [{"filename": bad}],
    "server.files.move": lambda bad: [
        {"source": f"gcodes/{bad}", "dest": "gcodes/moved.gcode"},
        {"source": "gcodes/ok.gcode", "dest": f"gcodes/{bad}"},
        {"source": "gcodes/ok.gcode", "dest": f"gcodes/{bad}/x.gcode"}],
    "server.files.copy": lambda bad: [
        {"source": f"gcodes/{bad}", "dest": "gcodes/copied.gcode"},
        {"source": "gcodes/ok.gcode", "dest": f"gcodes/{bad}"},
        {"source": "gcodes/ok.gcode", "dest": f"gcodes/{bad}/x.gcode"}],
    "server.files.zip": lambda bad: [
        {"items": [f"gcodes/{bad}"], "dest": "gcodes/out.zip"},
        {"items": ["gcodes/ok.gcode"], "dest": f"gcodes/{bad}"},
        {"items": ["gcodes/ok.gcode"], "dest": f"gcodes/{bad}/x.zip"}],
    "server.files.delete_file": lambda bad: [{"path": f"gcodes/{bad}"}],
}


@pytest.mark.parametrize("method", sorted(RPC_CASES))
async def test_rpc_endpoint_refuses_bad_paths(world: World, method: str) -> None:
    await _check_rpc(world, method, RPC_CASES[method])
    # nothing was created by the refused calls either
    gcodes = world.running.host.paths.gcodes
    assert sorted(p.name for p in gcodes.iterdir()) == \
        ["link_dir", "link_file.gcode", "ok.gcode", "sub"]


async def test_unknown_roots_and_root_escapes_are_refused(world: World) -> None:
    for params in ({"root": ".."}, {"root": "/"}, {"root": "../outside"}):
        await _rpc_refused(world, "server.files.list", params)
    for path in ("..", "../outside", "/tmp", "outside", "gcodes\x00"):
        await _rpc_refused(world, "server.files.get_directory", {"path": path})
    # deleting or moving a root itself is refused
    await _rpc_refused(world, "server.files.delete_directory", {"path": "gcodes",
                                                               "force": True})
    await _rpc_refused(world, "server.files.move", {"source": "gcodes", "dest": "config/g"})
    assert (world.running.host.paths.gcodes / "ok.gcode").exists()


async def test_listing_does_not_follow_links_out_of_the_root(world: World) -> None:
    files = await world.client.call("server.files.list", {"root": "gcodes"})
    assert [f["path"] for f in files] == ["ok.gcode"]
    listing = await world.client.call("server.files.get_directory", {"path": "gcodes"})
    assert sorted(f["filename"] for f in listing["files"]) == ["ok.gcode"]
    assert sorted(d["dirname"] for d in listing["dirs"]) == ["sub"]


def _url_forms(outside: Path) -> list[str]:
    """Download/delete URLs (already encoded, sent verbatim) that must be refused."""
    quoted = [urllib.parse.quote(p, safe="/") for p in bad_paths(outside)]
    return [
        *(f"/server/files/gcodes/{q}" for q in quoted),
        "/server/files/gcodes/%2e%2e/%2e%2e/outside/secret.gcode",
        "/server/files/gcodes/%2E%2E/%2E%2E/outside/secret.gcode",
        "/server/files/gcodes/sub/%2e%2e%2f%2e%2e%2f%2e%2e%2foutside/secret.gcode",
        "/server/files/gcodes/..%2f..%2foutside/secret.gcode",
        "/server/files/gcodes/%00",
        "/server/files/gcodes/link_dir/inner/deep.gcode",
        "/server/files/logs/..%2f..%2foutside/secret.gcode",
        "/server/files/outside/secret.gcode",
        "/server/files/gcodes/link_dir/secret.png",
        "/server/files/gcodes/%2e%2e/%2e%2e/outside/secret.png",
        "/server/files/gcodes/..%2f..%2foutside/secret.png",
        "/server/files/gcodes/" + urllib.parse.quote(str(outside / "secret.png")),
    ]


async def _raw(port: int, method: str, target: str) -> tuple[int, bytes]:
    """Send a request line exactly as given (no client-side normalisation of the path)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                 "\r\n".encode())
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return int(data.split(b" ", 2)[1]), data


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_download_and_delete_urls_refuse_bad_paths(world: World, method: str) -> None:
    before = world.snapshot()
    for target in _url_forms(world.outside):
        status, data = await _raw(world.running.port, method, target)
        # 404 only where the server normalised `..` away and no route matched
        assert 400 <= status < 500, (target, status, data[:200])
        assert SECRET not in data, target
    assert world.snapshot() == before
    # the same endpoints still work for a good path
    status, data = await _raw(world.running.port, "GET", "/server/files/gcodes/ok.gcode")
    assert status == 200 and data.endswith(b"G28\n")


def _multipart(fields: dict[str, str], filename: str) -> bytes:
    """A multipart body built by hand, so that any byte can go into a name."""
    parts = [f'--B\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
             for k, v in fields.items()]
    parts.append(f'--B\r\nContent-Disposition: form-data; name="file"; filename="{filename}"'
                 '\r\nContent-Type: application/octet-stream\r\n\r\nEVIL\n\r\n--B--\r\n')
    return "".join(parts).encode("utf-8")


async def test_upload_refuses_bad_paths_and_names(world: World) -> None:
    before = world.snapshot()
    url = world.running.url + "/server/files/upload"
    headers = {"Content-Type": "multipart/form-data; boundary=B"}
    for bad in bad_paths(world.outside):
        for fields, filename in (({"path": bad}, "evil.gcode"), ({}, bad),
                                 ({"root": bad}, "evil.gcode"),
                                 ({"root": "config", "path": f"../gcodes/{bad}"}, "e.gcode")):
            async with world.session.post(url, data=_multipart(fields, filename),
                                          headers=headers) as resp:
                assert 400 <= resp.status < 500, (fields, filename, resp.status)
    assert world.snapshot() == before
    evil = [p for p in world.running.host.paths.data.rglob("*")
            if p.name.endswith("evil.gcode") or p.name.startswith(".moonlite-upload-")]
    assert evil == []


async def test_public_thumbnail_route_is_just_as_safe(tmp_path: Path) -> None:
    # no trusted clients: only images under gcodes are served without credentials
    data = tmp_path / "data"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(SECRET)
    gcodes = data / "gcodes"
    (gcodes / ".thumbs").mkdir(parents=True)
    (gcodes / ".thumbs" / "ok-32x32.png").write_bytes(b"\x89PNG fake")
    (gcodes / "link_dir").symlink_to(outside, target_is_directory=True)
    (gcodes / "link.png").symlink_to(outside / "secret.png")
    config = "[file_manager]\n\n[authorization]\ntrusted_clients:\n"
    async with running_host(data, config) as running:
        status, body = await _raw(running.port, "GET", "/server/files/gcodes/.thumbs/ok-32x32.png")
        assert status == 200 and body.endswith(b"\x89PNG fake")
        for target in ("/server/files/gcodes/link_dir/secret.png",
                       "/server/files/gcodes/link.png",
                       "/server/files/gcodes/%2e%2e/%2e%2e/outside/secret.png",
                       "/server/files/gcodes/..%2f..%2foutside/secret.png",
                       "/server/files/gcodes/" + urllib.parse.quote(str(outside / "secret.png")),
                       "/server/files/config/x.png"):
            status, body = await _raw(running.port, "GET", target)
            assert 400 <= status < 500, (target, status)
            assert SECRET not in body
        status, _ = await _raw(running.port, "DELETE", "/server/files/gcodes/.thumbs/ok-32x32.png")
        assert status == 401
    assert (gcodes / ".thumbs" / "ok-32x32.png").exists()
    assert (outside / "secret.png").read_bytes() == SECRET


SEGMENTS = ["..", ".", "", "a", "sub", "link_dir", "link_file.gcode", "%2e%2e", "x" * 256,
            "\x00", "ok.gcode", "..."]


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(st.sampled_from(SEGMENTS) | st.text(max_size=8), max_size=8),
       absolute=st.booleans())
def test_resolve_never_leaves_the_root(parts: list[str], absolute: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        outside = base / "outside"
        outside.mkdir()
        gcodes = base / "gcodes"
        (gcodes / "sub").mkdir(parents=True)
        (gcodes / "link_dir").symlink_to(outside, target_is_directory=True)
        (gcodes / "link_file.gcode").symlink_to(outside / "x")
        roots = Roots([Root("gcodes", gcodes, True)])
        rel = ("/" if absolute else "") + "/".join(parts)
        try:
            path = roots.resolve("gcodes", rel, write=True)
        except ApiError as exc:
            assert exc.status in (400, 403)
            return
        real = Path(os.path.realpath(path))
        assert real == gcodes.resolve() or gcodes.resolve() in real.parents
