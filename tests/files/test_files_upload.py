"""Uploads over real HTTP: checksums, nested paths, print=true, limits, disconnects, busy files."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from moonlite.testing import RpcClient, RunningHost, running_host

CONFIG = "[server]\nmax_upload_size: 2\n\n[file_manager]\n"


class FakePrinter:
    """Stands in for the printer component (not ready yet): a real object with its API."""

    klippy_state = "ready"

    def __init__(self) -> None:
        self.path: Path | None = None
        self.started: list[str] = []

    def printing_path(self) -> Path | None:
        return self.path

    def is_printing(self) -> bool:
        return self.path is not None

    def is_paused(self) -> bool:
        return False

    async def print_file(self, filename: str, source: str = "api") -> None:
        self.started.append(filename)


@pytest.fixture
async def host(tmp_path: Path) -> AsyncIterator[RunningHost]:
    async with running_host(tmp_path / "data", CONFIG) as running:
        yield running


def form(content: bytes, filename: str = "part.gcode", **fields: str) -> aiohttp.FormData:
    # raw names, as browsers and slicers send them (aiohttp would percent-encode them)
    data = aiohttp.FormData(quote_fields=False)
    for name, value in fields.items():
        data.add_field(name, value)
    data.add_field("file", content, filename=filename, content_type="application/octet-stream")
    return data


async def upload(host: RunningHost, data: aiohttp.FormData) -> tuple[int, Any, Any]:
    async with aiohttp.ClientSession() as session, \
            session.post(host.url + "/server/files/upload", data=data) as resp:
        return resp.status, await resp.json(), resp.headers


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.startswith(".moonlite-upload-")]


async def test_upload_without_checksum_answers_201_with_location(
        host: RunningHost, gcode_dir: Path) -> None:
    content = (gcode_dir / "hexnut_marlin2.gcode").read_bytes()
    async with RpcClient.connect(host.ws_url) as client:
        status, body, headers = await upload(host, form(content, "nut.gcode"))
        note = await client.next_notification("notify_filelist_changed")
    assert status == 201
    assert body["action"] == "create_file"
    assert body["print_started"] is False and body["print_queued"] is False
    assert body["item"]["path"] == "nut.gcode" and body["item"]["size"] == len(content)
    assert headers["Location"] == f"{host.url}/server/files/gcodes/nut.gcode"
    assert (host.host.paths.gcodes / "nut.gcode").read_bytes() == content
    assert note["params"][0]["action"] == "create_file"
    assert note["params"][0]["item"]["path"] == "nut.gcode"
    # metadata is ready when the upload answers
    files = host.host.get_component("file_manager")
    assert files is not None
    assert (await files.get_metadata("nut.gcode"))["slicer"] == "PrusaSlicer"  # type: ignore


async def test_upload_with_matching_checksum_and_nested_path(host: RunningHost) -> None:
    content = b"G28\nG1 X10\n" * 1000
    digest = hashlib.sha256(content).hexdigest()
    status, body, headers = await upload(
        host, form(content, "deep/x y.gcode", path="a/b", checksum=digest.upper()))
    assert status == 201, body
    assert body["item"]["path"] == "a/b/deep/x y.gcode"
    assert headers["Location"].endswith("/server/files/gcodes/a/b/deep/x%20y.gcode")
    assert (host.host.paths.gcodes / "a/b/deep/x y.gcode").read_bytes() == content


async def test_checksum_mismatch_is_422_and_leaves_nothing(host: RunningHost) -> None:
    status, body, _ = await upload(
        host, form(b"G28\n", "bad.gcode", path="new", checksum="0" * 64))
    assert status == 422
    assert "checksum" in body["error"]["message"].lower()
    gcodes = host.host.paths.gcodes
    assert not (gcodes / "new" / "bad.gcode").exists()
    assert leftovers(gcodes) == []


async def test_upload_to_config_root_and_overwrite_reports_modify(host: RunningHost) -> None:
    status, body, _ = await upload(host, form(b"[x]\n", "printer.cfg", root="config"))
    assert status == 201 and body["action"] == "create_file"
    status, body, _ = await upload(host, form(b"[y]\n", "printer.cfg", root="config"))
    assert status == 201 and body["action"] == "modify_file"
    assert (host.host.paths.config / "printer.cfg").read_bytes() == b"[y]\n"
    status, body, _ = await upload(host, form(b"x", "a.log", root="logs"))
    assert status == 403
    assert not (host.host.paths.logs / "a.log").exists()


async def test_missing_filename_and_non_multipart_are_400(host: RunningHost) -> None:
    body = (b'--B\r\nContent-Disposition: form-data; name="file"\r\n\r\nG28\n\r\n--B--\r\n')
    async with aiohttp.ClientSession() as session:
        async with session.post(host.url + "/server/files/upload", data=body, headers={
                "Content-Type": "multipart/form-data; boundary=B"}) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"]["message"] == "Multipart filename omitted"
        async with session.post(host.url + "/server/files/upload", json={"file": "x"}) as resp:
            assert resp.status == 400
    assert [p.name for p in host.host.paths.gcodes.iterdir()] == []


async def test_print_true_without_printer_stores_file_then_503(host: RunningHost) -> None:
    status, body, _ = await upload(host, form(b"G28\n", "p.gcode", print="true"))
    # Moonraker's behaviour: the upload is kept, starting the print fails
    assert status == 503
    assert "not connected" in body["error"]["message"]
    assert (host.host.paths.gcodes / "p.gcode").read_bytes() == b"G28\n"


async def test_print_true_starts_the_print(host: RunningHost) -> None:
    printer = FakePrinter()
    host.host.components["printer"] = printer  # type: ignore[assignment]
    status, body, _ = await upload(host, form(b"G28\n", "go.gcode", path="jobs", print="true"))
    assert status == 201, body
    assert body["print_started"] is True
    assert printer.started == ["jobs/go.gcode"]
    # while busy, an upload-and-print is stored but not started
    printer.path = host.host.paths.gcodes / "jobs" / "go.gcode"
    status, body, _ = await upload(host, form(b"G28\n", "next.gcode", print="true"))
    assert status == 201 and body["print_started"] is False
    assert printer.started == ["jobs/go.gcode"]


async def test_overwriting_the_printed_file_is_refused(host: RunningHost) -> None:
    status, _, _ = await upload(host, form(b"ORIGINAL\n", "busy.gcode"))
    assert status == 201
    printer = FakePrinter()
    printer.path = host.host.paths.gcodes / "busy.gcode"
    host.host.components["printer"] = printer  # type: ignore[assignment]
    status, body, _ = await upload(host, form(b"NEW\n", "busy.gcode"))
    assert status == 403
    assert "being printed" in body["error"]["message"]
    assert (host.host.paths.gcodes / "busy.gcode").read_bytes() == b"ORIGINAL\n"
    assert leftovers(host.host.paths.gcodes) == []


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status and body of one HTTP response (without waiting for the connection to end)."""
    async with asyncio.timeout(10):
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        body = await reader.readexactly(length)
    return int(head.split(b" ", 2)[1]), body


async def _raw_request(port: int, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head + body)
    try:
        await writer.drain()
    except ConnectionError:
        pass
    try:
        return await read_response(reader)
    finally:
        writer.close()


def _multipart_head(port: int, boundary: str, length: int | None) -> bytes:
    size = f"Content-Length: {length}\r\n" if length is not None \
        else "Transfer-Encoding: chunked\r\n"
    return (f"POST /server/files/upload HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n{size}"
            "Connection: close\r\n\r\n").encode()


def _part_start(boundary: str, filename: str) -> bytes:
    return (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            ).encode()


async def test_size_limit_is_413_up_front_and_while_streaming(host: RunningHost) -> None:
    boundary = "XyZ123"
    # a Content-Length over the limit is refused before the body is read
    status, data = await _raw_request(host.port, _multipart_head(host.port, boundary,
                                                                 50 * 1024 * 1024))
    assert status == 413, data
    # without a length (chunked), the stream is cut off once it passes the limit
    body = _part_start(boundary, "big.gcode") + b"G1 X1\n" * (700 * 1024)
    chunked = b"".join(f"{len(body[i:i + 65536]):x}\r\n".encode() + body[i:i + 65536]
                       + b"\r\n" for i in range(0, len(body), 65536))
    status, data = await _raw_request(host.port, _multipart_head(host.port, boundary, None),
                                      chunked)
    assert status == 413, data[:300]
    assert not (host.host.paths.gcodes / "big.gcode").exists()
    assert leftovers(host.host.paths.gcodes) == []


async def test_client_disconnect_mid_upload_leaves_nothing(host: RunningHost) -> None:
    files: Any = host.host.get_component("file_manager")
    boundary = "CutOff42"
    total = 1_800_000
    head = _multipart_head(host.port, boundary, total)
    reader, writer = await asyncio.open_connection("127.0.0.1", host.port)
    writer.write(head + _part_start(boundary, "cut.gcode") + b";" * (total // 2 + 300_000))
    await writer.drain()
    # the server has written part of the file to its temporary file ...
    await files.uploads.wait_for(lambda u: u.active == 1 and u.written > 0)
    assert len(leftovers(host.host.paths.gcodes)) == 1
    # ... then the client goes away
    writer.transport.abort()
    await files.uploads.wait_for(lambda u: u.active == 0)
    assert leftovers(host.host.paths.gcodes) == []
    assert not (host.host.paths.gcodes / "cut.gcode").exists()
    reader.feed_eof()


async def test_upload_fires_upload_and_file_events(host: RunningHost) -> None:
    seen: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

    async def record(event: str, payload: dict[str, Any]) -> None:
        await seen.put((event, payload))

    host.host.events.subscribe("*", record)
    status, _, _ = await upload(host, form(b"G28\n", "ev.gcode", path="evdir"))
    assert status == 201
    events: dict[str, list[dict[str, Any]]] = {}
    async with asyncio.timeout(5):
        while "Upload" not in events:
            event, payload = await seen.get()
            events.setdefault(event, []).append(payload)
    assert events["Upload"] == [{"name": "ev.gcode", "path": "evdir/ev.gcode",
                                 "target": "local", "file": "evdir/ev.gcode"}]
    assert events["FolderAdded"] == [{"storage": "local", "path": "evdir", "name": "evdir"}]
    assert events["FileAdded"] == [{"storage": "local", "path": "evdir/ev.gcode",
                                    "name": "ev.gcode", "type": ["machinecode", "gcode"]}]
    assert {"type": "printables"} in events["UpdatedFiles"]
    assert {"type": "gcode"} in events["UpdatedFiles"]
    started = events["MetadataAnalysisStarted"][0]
    assert started == {"name": "ev.gcode", "path": "evdir/ev.gcode", "origin": "local",
                       "file": "evdir/ev.gcode"}
    assert events["MetadataAnalysisFinished"][0]["result"]["filename"] == "evdir/ev.gcode"


async def test_upload_streams_to_the_target_root(host: RunningHost) -> None:
    # the temporary file lives in the target root: observe it while the body is still coming
    files: Any = host.host.get_component("file_manager")
    boundary = "Rooted"
    root_field = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"root\"\r\n\r\n"
                  "config\r\n").encode()
    payload = b"#" * 1_500_000
    tail = f"\r\n--{boundary}--\r\n".encode()
    body = root_field + _part_start(boundary, "big.cfg") + payload + tail
    reader, writer = await asyncio.open_connection("127.0.0.1", host.port)
    writer.write(_multipart_head(host.port, boundary, len(body)) + body[:1_300_000])
    await writer.drain()
    await files.uploads.wait_for(lambda u: u.written > 0)
    assert len(leftovers(host.host.paths.config)) == 1
    assert leftovers(host.host.paths.gcodes) == []
    writer.write(body[1_300_000:])
    await writer.drain()
    status, response = await read_response(reader)
    writer.close()
    assert status == 201
    result = json.loads(response)
    assert result["item"] == {**result["item"], "root": "config", "path": "big.cfg",
                              "size": len(payload)}
    assert leftovers(host.host.paths.config) == []


async def test_not_enough_free_space_is_507_before_reading(tmp_path: Path) -> None:
    config = "[file_manager]\nmax_upload_size: 1000000000\n"  # a limit above any disk
    async with running_host(tmp_path / "data", config) as running:
        free = shutil.disk_usage(running.host.paths.gcodes).free
        boundary = "Full"
        status, data = await _raw_request(
            running.port, _multipart_head(running.port, boundary, free + 1),
            _part_start(boundary, "huge.gcode"))
        assert status == 507, data
        assert leftovers(running.host.paths.gcodes) == []
        assert list(running.host.paths.gcodes.iterdir()) == []


async def test_unfinished_uploads_from_a_crash_are_removed_at_start(tmp_path: Path) -> None:
    gcodes = tmp_path / "data" / "gcodes"
    (gcodes / "sub").mkdir(parents=True)
    stale = [gcodes / ".moonlite-upload-abc.part", gcodes / "sub" / ".moonlite-upload-d.part"]
    for path in stale:
        path.write_bytes(b"half a file")
    (gcodes / "keep.gcode").write_bytes(b"G28\n")
    async with running_host(tmp_path / "data", CONFIG):
        assert not any(path.exists() for path in stale)
        assert (gcodes / "keep.gcode").exists()
