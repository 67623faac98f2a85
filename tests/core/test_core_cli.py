"""The `moonlite` command as a subprocess: check-config exit codes, serving, server.restart."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from moonlite.testing import RpcClient

SERVING = re.compile(r"serving on http://127\.0\.0\.1:(\d+)")
START_TIMEOUT = 30.0


def check_config(path: Path) -> subprocess.CompletedProcess[str]:
    """Run `moonlite check-config path`."""
    return subprocess.run([sys.executable, "-m", "moonlite", "check-config", str(path)],
                          capture_output=True, text=True, timeout=60, check=False)


def test_check_config_exit_codes(tmp_path: Path) -> None:
    good = tmp_path / "good.conf"
    good.write_text("[server]\nport: 7200\n[webcam front]\nstream_url: /s\n"
                    "[include extra/*.conf]\n")
    (tmp_path / "extra").mkdir()
    (tmp_path / "extra" / "cams.conf").write_text("[webcam back]\nrotation: 180\n")
    done = check_config(good)
    assert done.returncode == 0, done.stderr
    assert "OK (3 sections)" in done.stdout

    bad_option = tmp_path / "bad_option.conf"
    # each bad config: its text and what the error message must say
    bad = {
        bad_option: ("[server]\nprot: 7200\n",
                     ["[server] option 'prot': unknown option", str(bad_option)]),
        tmp_path / "bad_value.conf": ("[server]\n[webcam side]\nrotation: 45\n",
                                      ["[webcam side] option 'rotation'"]),
        tmp_path / "unknown.conf": ("[no_such_component]\nx: 1\n", ["no_such_component"]),
    }
    for path, (text, messages) in bad.items():
        path.write_text(text)
        done = check_config(path)
        assert done.returncode == 1
        for message in messages:
            assert message in done.stderr, (path, message, done.stderr)

    done = check_config(tmp_path / "missing.conf")
    assert done.returncode == 1
    assert "not found" in done.stderr


class ServerProcess:
    """A `moonlite` process whose stderr is followed for the port it serves on."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.ports: asyncio.Queue[int] = asyncio.Queue()
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            line = raw.decode(errors="replace")
            self.lines.append(line)
            match = SERVING.search(line)
            if match:
                self.ports.put_nowait(int(match.group(1)))

    async def next_port(self) -> int:
        """The port of the next host that comes up."""
        try:
            return await asyncio.wait_for(self.ports.get(), START_TIMEOUT)
        except TimeoutError:
            raise AssertionError("no host came up:\n" + "".join(self.lines)) from None


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    """`python -m moonlite` on a random port with a core-only config."""
    config = tmp_path / "moonlite.conf"
    config.write_text("[server]\nhost: 127.0.0.1\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "moonlite", "-c", str(config), "-d", str(tmp_path / "data"),
        "-p", "0", "-n", stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL)
    running = ServerProcess(proc)
    try:
        yield running
    finally:
        if proc.returncode is None:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), START_TIMEOUT)


async def test_server_restart_brings_up_a_new_host(server: ServerProcess) -> None:
    port = await server.next_port()
    async with aiohttp.ClientSession() as session:
        async with RpcClient.connect(f"ws://127.0.0.1:{port}/websocket", session) as client:
            await client.call("server.database.post_item",
                              {"namespace": "test", "key": "kept", "value": 1})
            assert await client.call("server.restart") == "ok"
            # the old host closes its websockets
            await asyncio.wait_for(client._reader, START_TIMEOUT)
        new_port = await server.next_port()
        async with session.get(f"http://127.0.0.1:{new_port}/server/info") as resp:
            assert resp.status == 200
            assert (await resp.json())["result"]["failed_components"] == []
        async with session.get(f"http://127.0.0.1:{new_port}/server/database/item",
                               params={"namespace": "test", "key": "kept"}) as resp:
            assert (await resp.json())["result"]["value"] == 1
    assert server.proc.returncode is None
    server.proc.terminate()
    assert await asyncio.wait_for(server.proc.wait(), START_TIMEOUT) == 0


def test_serving_does_not_import_optional_commands() -> None:
    """`analyze` pulls in numpy; a plain `moonlite` run must not pay for it."""
    code = ("import sys; from moonlite.cli import build_parser; "
            "build_parser(['-p', '7125']).parse_args(['-p', '7125']); "
            "print('numpy' in sys.modules, 'moonlite.virtual_printer.cli' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.split() == ["False", "False"]
    helped = subprocess.run([sys.executable, "-m", "moonlite", "--help"], capture_output=True,
                            text=True, timeout=60, check=True)
    assert "analyze" in helped.stdout and "virtual-printer" in helped.stdout
