"""The upload pipeline under back-pressure: a tiny window makes the loop wait on the worker."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from moonlite.components.files import upload as upload_module

from moonlite.testing import RunningHost, running_host

CONFIG = "[server]\nmax_upload_size: 2\n\n[file_manager]\n"
BOUNDARY = "PipeLine77"


@pytest.fixture
async def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RunningHost]:
    # every chunk aiohttp hands over (up to 256 KiB) fills the window: the loop waits each time
    monkeypatch.setattr(upload_module, "WINDOW", 64 * 1024)
    monkeypatch.setattr(upload_module, "PROGRESS_STEP", 16 * 1024)
    async with running_host(tmp_path / "data", CONFIG) as running:
        yield running


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.startswith(".moonlite-upload-")]


def upload_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "moonlite-upload"]


def head(port: int, length: int) -> bytes:
    return (f"POST /server/files/upload HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {length}\r\nConnection: close\r\n\r\n").encode()


def part_start(filename: str) -> bytes:
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            ).encode()


async def status_of(reader: asyncio.StreamReader) -> int:
    async with asyncio.timeout(10):
        response = await reader.readuntil(b"\r\n\r\n")
    return int(response.split(b" ", 2)[1])


async def test_upload_larger_than_the_window_arrives_intact(host: RunningHost) -> None:
    # random data with boundary-like pieces, which the parser must pass through as data
    content = b"".join(os.urandom(50_000) + b"\r\n--" + BOUNDARY.encode()[:5]
                       for _ in range(36))
    digest = hashlib.sha256(content).hexdigest()
    data = aiohttp.FormData()
    data.add_field("checksum", digest)
    data.add_field("file", content, filename="big.bin", content_type="application/octet-stream")
    async with aiohttp.ClientSession() as session, \
            session.post(host.url + "/server/files/upload", data=data) as resp:
        status, body = resp.status, await resp.json()
    assert status == 201, body
    assert body["item"]["size"] == len(content)
    assert (host.host.paths.gcodes / "big.bin").read_bytes() == content
    files: Any = host.host.get_component("file_manager")
    assert files.uploads.written >= len(content)  # the last progress report covers it all
    assert leftovers(host.host.paths.gcodes) == []
    assert upload_threads() == []


async def test_worker_error_while_the_loop_waits_is_413_and_leaves_nothing(
        host: RunningHost) -> None:
    # the length passes the up-front check (limit + framing allowance), the file part does not:
    # the worker refuses it mid-stream while the loop is held back by the window
    payload = b"G1 X1\n" * (2_600_000 // 6)
    body = part_start("over.gcode") + payload + f"\r\n--{BOUNDARY}--\r\n".encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", host.port)
    writer.write(head(host.port, len(body)) + body)
    try:
        await writer.drain()
    except ConnectionError:
        pass  # the server may stop reading once it answered
    status = await status_of(reader)
    writer.close()
    assert status == 413
    assert not (host.host.paths.gcodes / "over.gcode").exists()
    assert leftovers(host.host.paths.gcodes) == []
    assert upload_threads() == []


async def test_disconnect_while_the_worker_lags_stops_the_thread(host: RunningHost) -> None:
    files: Any = host.host.get_component("file_manager")
    total = 1_900_000
    reader, writer = await asyncio.open_connection("127.0.0.1", host.port)
    writer.write(head(host.port, total) + part_start("cut.gcode") + b";" * 1_200_000)
    await writer.drain()
    await files.uploads.wait_for(lambda u: u.active == 1 and u.written > 0)
    assert len(upload_threads()) == 1
    writer.transport.abort()
    await files.uploads.wait_for(lambda u: u.active == 0)
    assert leftovers(host.host.paths.gcodes) == []
    assert upload_threads() == []
    reader.feed_eof()
