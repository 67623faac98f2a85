"""Under systemd, moonlite says READY=1 once it listens and pings the watchdog (Type=notify)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp


async def _datagrams(sock: socket.socket, wanted: set[str], timeout: float) -> set[str]:
    loop = asyncio.get_running_loop()
    seen: set[str] = set()
    async with asyncio.timeout(timeout):
        while not wanted <= seen:
            data = await loop.sock_recv(sock, 4096)
            seen.update(data.decode().split("\n"))
    return seen


async def test_ready_and_watchdog_notifications(tmp_path: Path) -> None:
    address = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.setblocking(False)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "NOTIFY_SOCKET": address, "WATCHDOG_USEC": "400000"}
    env.pop("WATCHDOG_PID", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "moonlite", "-d", str(tmp_path / "data"), "-p", str(port), "-n",
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        seen = await _datagrams(sock, {"READY=1", "WATCHDOG=1"}, timeout=60)
        assert "READY=1" in seen
        # READY means listening: the API answers at once
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/server/info") as resp:
                assert resp.status == 200
        proc.send_signal(signal.SIGTERM)
        assert "STOPPING=1" in await _datagrams(sock, {"STOPPING=1"}, timeout=30)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        sock.close()
